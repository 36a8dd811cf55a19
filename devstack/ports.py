"""Port checks before start-up and readiness probes after it."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import random
import socket
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from devstack.errors import StackError
from runtime.settings import Settings


@dataclass(frozen=True)
class PortClaim:
    """A port the stack will listen on, and the setting a person changes to move it."""

    host: str
    port: int
    key: str  # dotted settings key, e.g. "temporal.ui_port"

    @property
    def env_name(self) -> str:
        return "ODB_" + self.key.upper().replace(".", "__")


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR: a port in TIME_WAIT from our own last run is free to use again.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            if exc.errno == errno.EADDRNOTAVAIL:
                raise StackError(
                    f"cannot listen on {host}: not an address of this machine"
                ) from exc
            raise
    return False


def check_free(claims: Iterable[PortClaim]) -> None:
    """Refuse to start anything when one of the ports is taken; name every taken port."""
    claims = list(claims)
    seen: dict[int, PortClaim] = {}
    problems: list[str] = []
    for claim in claims:
        if claim.port in seen:
            other = seen[claim.port]
            problems.append(
                f"port {claim.port} is configured twice: {other.key} and {claim.key}; "
                f"give one of them another port"
            )
            continue
        seen[claim.port] = claim
        if port_in_use(claim.host, claim.port):
            problems.append(
                f"port {claim.port} ({claim.key}) is already in use by another program; "
                f"stop that program, or set {claim.key} in temporal-dev.yaml "
                f"(or {claim.env_name}) to a free port"
            )
    if problems:
        raise StackError("cannot start the dev stack:\n  " + "\n  ".join(problems))


_handed_out: set[int] = set()
# Below Linux's range for outgoing connections (32768-60999): a port from that range, freed
# for a moment while a private stack is killed and started again on the same ports, can be
# taken by any process's outgoing connection in between (seen with three test workers:
# "port ... is already in use by another program" on the restart).
_PRIVATE_PORTS = range(20000, 32768)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now, not one the kernel hands to outgoing connections,
    and not handed out before by this process (tests use this for a private stack). Nothing
    holds a port between this call and its listen, so two calls could otherwise get the same
    one (seen: temporal.address == smtp.port); drawn at random, so that processes drawing at
    the same time rarely meet."""
    draw = random.Random()
    for _ in range(1000):
        port = draw.choice(_PRIVATE_PORTS)
        if port not in _handed_out and not port_in_use(host, port):
            _handed_out.add(port)
            return port
    raise OSError("no free port left that this process has not handed out already")


async def tcp_answers(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of GET url, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            status: int = resp.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return None


async def worker_polls(client: Client, settings: Settings, pid: int) -> bool:
    """Whether Temporal sees a workflow poller of process `pid` on the task queue (False
    while Temporal itself does not answer)."""
    request = DescribeTaskQueueRequest(
        namespace=settings.temporal.namespace,
        task_queue=TaskQueue(name=settings.temporal.task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    try:
        resp = await client.workflow_service.describe_task_queue(request)
    except RPCError:
        return False
    return any(p.identity.startswith(f"{pid}@") for p in resp.pollers)
