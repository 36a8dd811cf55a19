#!/bin/sh
# Runs uv; on a machine without it, installs the pinned version first (needs only python3).
set -eu
UV_VERSION=0.13.8
if command -v uv >/dev/null 2>&1; then exec uv "$@"; fi
BOOT="${XDG_CACHE_HOME:-$HOME/.cache}/odb-bootstrap-uv-$UV_VERSION"
if [ ! -x "$BOOT/bin/uv" ]; then
    echo "uv is not installed: installing uv==$UV_VERSION into $BOOT" >&2
    # A private venv works where `pip install --user` is refused (PEP 668 system Pythons);
    # --user is the fallback where the venv module is missing (Debian without python3-venv).
    if python3 -m venv "$BOOT" >/dev/null 2>&1 \
        && "$BOOT/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"; then
        :
    else
        rm -rf "$BOOT"
        python3 -m pip install --user --quiet "uv==$UV_VERSION"
        exec python3 -m uv "$@"
    fi
fi
exec "$BOOT/bin/uv" "$@"
