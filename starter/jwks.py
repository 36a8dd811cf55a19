"""The identity provider's signing keys, fetched from its JWKS URL (`auth.jwks`) and kept.

An identity provider that cannot be reached is an outage, not a bad token: the last key set
fetched stays in use while it is away (tokens it signed before keep verifying), a set older
than REFRESH_SECONDS is fetched again when it answers (a rotation shows within minutes), and
a token whose `kid` the set lacks asks for a fresh set at most every RETRY_SECONDS. Only when
no key set was ever fetched is there nothing to verify with: `KeysUnavailable` (a 503 naming
the identity provider; what went wrong goes to the log, never to the caller).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet

from runtime.logging import get_logger

FETCH_TIMEOUT_SECONDS = 3.0
REFRESH_SECONDS = 300.0
# After a failed fetch, or a fetch for an unknown kid: a flood of tokens with made-up kids,
# or of requests while the identity provider is down, costs it one fetch per this.
RETRY_SECONDS = 5.0

log = get_logger("starter.auth")


class KeysUnavailable(Exception):
    """No key set was ever fetched and the identity provider does not give one now."""

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


class JwksKeys:
    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic) -> None:
        # PyJWKClient only for its fetch (no redirects, a timeout); the keeping is ours.
        self._client = PyJWKClient(
            url, cache_keys=False, cache_jwk_set=False, timeout=FETCH_TIMEOUT_SECONDS
        )
        self._clock = clock
        self._keys: PyJWKSet | None = None
        self._fetched_at = -math.inf
        self._tried_at = -math.inf
        self._cause = "not fetched yet"
        self._lock = asyncio.Lock()

    async def candidates(self, kid: str | None) -> list[PyJWK]:
        """The keys of the set a token with this `kid` (None: any) may be signed with."""
        now = self._clock()
        may_try = now - self._tried_at >= RETRY_SECONDS
        if may_try and (
            now - self._fetched_at >= REFRESH_SECONDS
            or (kid is not None and not self._matching(kid))
        ):
            await self._refresh(now)
        if self._keys is None:
            raise KeysUnavailable(self._cause)
        return self._matching(kid)

    def _matching(self, kid: str | None) -> list[PyJWK]:
        keys = self._keys.keys if self._keys is not None else []
        return [k for k in keys if kid is None or k.key_id == kid]

    async def _refresh(self, asked_at: float) -> None:
        async with self._lock:
            if self._tried_at >= asked_at:
                return  # fetched (or tried) by another request while this one waited
            try:
                data = await asyncio.to_thread(self._client.fetch_data)
                keys = PyJWKSet.from_dict(data)
            except (jwt.PyJWTError, ValueError, TypeError, OSError) as exc:
                self._cause = f"{type(exc).__name__}: {exc}"[:300]
                log.warning(
                    "auth.jwks.fetch_failed",
                    cause=self._cause,
                    using=("the last key set fetched" if self._keys is not None else "none"),
                )
            else:
                self._keys, self._fetched_at = keys, self._clock()
            finally:
                self._tried_at = self._clock()
