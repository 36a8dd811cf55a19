"""Secret rotation (Standard Webhooks: several signatures in one header): with a
`previous_secret` beside the new `secret`, every delivery carries a signature by each, so a
receiver that knows only one of them accepts it. A real receiver on loopback verifies."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from pytest_httpserver import HTTPServer
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from activities.events import headers_for
from runtime.settings import ConfigError, Settings, load_settings
from tests.events.receiver import SECRET, WRONG_SECRET, Receiver
from tests.events.test_delivery import (
    _assert_in_order,
    _deliver_until,
    _settings,
    _subscribe,
    _transitions,
)

NEW_SECRET = "whsec_" + base64.b64encode(b"the-rotated-portal-secret-2027").decode()


@pytest.fixture
def receiver(httpserver: HTTPServer) -> Iterator[Receiver]:
    yield Receiver(httpserver)


async def test_a_receiver_that_knows_only_the_new_secret_accepts_during_rotation(
    pg_pool: asyncpg.Pool[Any], test_settings: Settings, receiver: Receiver
) -> None:
    settings = _settings(
        test_settings, "rotating", receiver.url, secret=NEW_SECRET, previous_secret=SECRET
    )
    name = await _subscribe(pg_pool, settings)
    expected = await _transitions(pg_pool, dossiers=2, each=2)
    receiver.secret = NEW_SECRET  # the portal has moved over already
    await _deliver_until(pg_pool, settings, name, lambda: len(receiver.ids()) == 4, runs=5)
    _assert_in_order(receiver, expected)  # and no signature refused


def test_each_secret_signs_so_either_one_verifies() -> None:
    both = [Webhook(NEW_SECRET), Webhook(SECRET)]
    body = b'{"specversion":"1.0","id":"x","subject":"ODB-2027-000001"}'
    headers = headers_for(both, "x", body, datetime.now(UTC))
    assert [s.split(",")[0] for s in headers["webhook-signature"].split(" ")] == ["v1", "v1"]
    for secret in (NEW_SECRET, SECRET):  # the portal not yet moved, or moved
        assert Webhook(secret).verify(body, headers)["id"] == "x"
    with pytest.raises(WebhookVerificationError):
        Webhook(WRONG_SECRET).verify(body, headers)


@pytest.mark.parametrize(
    ("previous", "message"),
    [
        ("whsec_short", "events.subscriptions.portal.previous_secret: Value error, must be whsec_"),
        (NEW_SECRET, "events.subscriptions.portal.previous_secret: Value error, is the same"),
        (42, "events.subscriptions.portal.previous_secret: Input should be a valid string"),
    ],
    ids=["short", "same-as-secret", "not-a-string"],
)
def test_a_bad_previous_secret_stops_the_process_naming_the_key(
    previous: Any, message: str
) -> None:
    subscription = {"url": "https://loket.example/hooks", "secret": NEW_SECRET}
    with pytest.raises(ConfigError) as refused:
        load_settings(
            events={"subscriptions": {"portal": {**subscription, "previous_secret": previous}}}
        )
    assert message in str(refused.value)
    assert "short" not in str(refused.value) and NEW_SECRET[6:] not in str(refused.value)


def test_a_list_of_secrets_is_an_unknown_key() -> None:
    subscription = {"url": "https://loket.example/hooks", "secrets": [NEW_SECRET, SECRET]}
    with pytest.raises(ConfigError) as refused:
        load_settings(events={"subscriptions": {"portal": subscription}})
    assert "events.subscriptions.portal.secrets: unknown key" in str(refused.value)
    assert NEW_SECRET[6:] not in str(refused.value)
