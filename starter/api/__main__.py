"""`python -m starter.api`: serve the portal API (uvicorn) on api.host:api.port."""

from runtime.settings import ConfigError, load_settings
from starter.api.app import serve

try:
    serve(load_settings())
except ConfigError as exc:
    raise SystemExit(f"the portal API cannot start: {exc}") from None
