# The two commands: `make run` brings the whole system up, `make test` runs every test.
# Both work on a fresh machine with only python3.11 and make: uv and the locked
# dependencies are installed on first use.

UV := ./devstack/uv.sh
PY := .venv/bin/python

.PHONY: run stop status test lint sync clean browser

sync:
	@$(UV) sync --frozen --quiet

run: sync
	@$(PY) -m devstack up

stop:
	@if [ -x $(PY) ]; then $(PY) -m devstack stop; else echo "the dev stack is not running"; fi

status:
	@if [ -x $(PY) ]; then $(PY) -m devstack status || true; else echo "the dev stack is not running"; fi

# Headless Chromium for the Web UI test (tests/ops/test_web_ui.py): Debian's package, once.
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# ARGS passes options to pytest, e.g. make test ARGS="-m 'not stack' -x". The suite runs on
# WORKERS processes (pytest-xdist), each module whole on one of them (tests/conftest.py says
# how the work is cut); WORKERS=0 runs it in this one process.
WORKERS ?= 3
test: sync browser lint
	$(PY) -m pytest -n $(WORKERS) --no-loadscope-reorder --durations=25 $(ARGS)

lint: sync
	.venv/bin/ruff check .
	.venv/bin/mypy .

# Stops the stack and deletes its state (every case, e-mail and log of the dev stack).
clean: stop
	rm -rf .dev
