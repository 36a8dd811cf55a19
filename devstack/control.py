"""`devstack stop` and `devstack status`, for a second terminal: they work from the pid
files under <state>/run, also when the supervisor itself was killed."""

from __future__ import annotations

import json
import signal
import time

from devstack import procs
from devstack.cleanup import SUPERVISOR, say, sweep_leftovers
from devstack.plan import Plan
from devstack.ports import http_status


def stop(plan: Plan, timeout: float = 90.0) -> int:
    supervisor = procs.adopt(plan.run_dir / f"{SUPERVISOR}.pid")
    if supervisor is not None:
        say(f"stopping the dev stack (supervisor pid {supervisor.pid}) ...")
        supervisor.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while supervisor.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        if supervisor.alive():
            say(f"the supervisor did not stop within {timeout:.0f} s; killing it")
            supervisor.signal(signal.SIGKILL)
    leftovers = [c for c in map(procs.adopt, plan.run_dir.glob("*.pid")) if c is not None]
    sweep_leftovers(plan)
    if supervisor is None and not leftovers:
        say(f"the dev stack is not running (state folder {plan.state})")
    else:
        say("dev stack stopped")
    return 0


def status(plan: Plan) -> int:
    """Exit 0 when the stack runs, 3 when it does not (as `systemctl status` does)."""
    supervisor = procs.adopt(plan.run_dir / f"{SUPERVISOR}.pid")
    children = {
        p.stem: procs.adopt(p) for p in sorted(plan.run_dir.glob("*.pid")) if p.stem != SUPERVISOR
    }
    if supervisor is None:
        say(f"the dev stack is not running (state folder {plan.state})")
        running = [n for n, c in children.items() if c is not None]
        if running:
            say(f"  left over from a killed run: {', '.join(running)}; `make stop` stops them")
        return 3
    say(f"the dev stack runs (supervisor pid {supervisor.pid}, state folder {plan.state})")
    for name, child in children.items():
        say(f"  {name:<9} {'running, pid ' + str(child.pid) if child else 'NOT RUNNING'}")
    try:
        info = json.loads((plan.state / "stack.json").read_text())
    except (OSError, ValueError):
        say("  (still starting)")
        return 0
    ui = plan.ui_url
    code = http_status(ui)
    say(f"  Web UI    {info['ui']}  ({'answers' if code == 200 else 'NOT answering'})")
    say(f"  Temporal  {info['temporal_address']}  namespace {info['namespace']}")
    say(f"  Database  {info['database_url']}")
    say(
        f"  SMTP      {info['smtp']}"
        + (f"  mail in {info['mail_dir']}" if info["mail_dir"] else "")
    )
    return 0
