"""python -m devstack up | stop | status"""

from __future__ import annotations

import argparse
import asyncio
import sys

from devstack.errors import StackError
from runtime.settings import ConfigError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack",
        description="Run the whole system locally: Temporal dev server, PostgreSQL, SMTP sink, "
        "worker and HTTP API, configured by temporal-dev.yaml (ODB_CONFIG to use another file).",
    )
    parser.add_argument("command", choices=["up", "stop", "status"])
    args = parser.parse_args(argv)
    try:
        # Imported late: `--help` and a bad config answer fast, before Temporal's imports.
        from devstack.plan import build_plan

        plan = build_plan(load_settings())
        if args.command == "up":
            from devstack.supervisor import run_up

            return asyncio.run(run_up(plan))
        from devstack import control

        return control.stop(plan) if args.command == "stop" else control.status(plan)
    except (ConfigError, StackError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
