"""`python -m starter <command>`: the ops and demo command line, over the same client code
as the HTTP API.

Commands come from small modules, each with `register(subparsers)` that adds its
sub-parsers and sets `run=<async function(args) -> exit code>` on each (a plain function
for commands that run their own event loop, like `serve`). To add commands, add the module
to COMMAND_MODULES (a missing module is skipped, so parallel work can land in any order).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from registry.errors import RegistryError
from rules.guards import CaseRefused
from runtime.settings import ConfigError, load_settings
from starter.auth import mint_dev_token
from starter.client import Refused, Unavailable

COMMAND_MODULES = (
    "starter.cli.cases",
    "starter.cli.mail",
    "starter.cli.events",
    "starter.cli.demo",
    "starter.deploy.schedule",
    "starter.cli.worklist",
    "starter.deploy.setup",
    "starter.cli.providers",
)


def _register_core(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve the portal API (uvicorn) on api.host:api.port")
    serve.set_defaults(run=_serve)

    token = sub.add_parser("token", help="mint a dev token (the dev stack's own secret)")
    token.add_argument("--sub", required=True, help="the user's subject id")
    token.add_argument("--org", help="enterprise number the user acts for")
    token.add_argument(
        "--role",
        action="append",
        default=[],
        help='repeatable: provider, "reviewer:VOC", "reviewer:PC 200", bec, department',
    )
    token.add_argument("--ttl", type=int, default=3600, help="seconds until it expires")
    token.set_defaults(run=_token)


def _serve(args: argparse.Namespace) -> int:
    from starter.api.app import serve

    serve(load_settings())
    return 0


def _token(args: argparse.Namespace) -> int:
    print(
        mint_dev_token(
            load_settings(), args.sub, org=args.org, roles=tuple(args.role), ttl_seconds=args.ttl
        )
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m starter", description="Opleidingsdatabank case engine: ops commands"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    _register_core(sub)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        register = getattr(module, "register", None)
        if callable(register):
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args)
        code = asyncio.run(result) if inspect.iscoroutine(result) else result
        return int(code or 0)
    except (Refused, CaseRefused) as exc:
        print(f"refused ({exc.refusal.value}): {exc.message}", file=sys.stderr)
        return 3
    except Unavailable as exc:
        print(f"unavailable: {exc}; try again shortly", file=sys.stderr)
        return 4
    except RegistryError as exc:
        print(f"refused ({exc.refusal.value}): {exc.message}", file=sys.stderr)
        return 3
    except ValidationError as exc:
        print(f"invalid input: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def dump(value: Any) -> None:
    """Prints a pydantic model or plain data as indented JSON."""
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    print(json.dumps(value, indent=2, ensure_ascii=False))


def out(text: str, end: str = "\n") -> None:
    """The command's answer on stdout (command modules print through here)."""
    print(text, end=end)
