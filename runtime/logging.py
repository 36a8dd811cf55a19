"""One log format for every process: structlog routed through the standard `logging` module.

`workflow.logger` and `activity.logger` (replay-safe, carrying Temporal's context) are plain
stdlib loggers, so routing structlog through stdlib — rather than the other way round — is
what makes their records and ours come out as the same JSON lines. A terminal gets a
readable console renderer instead.

Nothing happens at import; `configure_logging()` does the work and may be called again.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog.typing import Processor

# Temporal's loggers put their context in these `extra` keys; we lift them into the event.
_TEMPORAL_EXTRAS = ("temporal_workflow", "temporal_activity")
_HANDLER_MARK = "_odb_handler"


def configure_logging(level: int | str = "INFO", *, json: bool | None = None) -> None:
    """Route structlog and stdlib logging to stderr as JSON lines (console on a TTY).

    Idempotent: a second call replaces the handler it installed, it never adds another.
    """
    if json is None:
        json = not sys.stderr.isatty()

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )

    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if json:
        final.append(structlog.processors.format_exc_info)
    final.append(renderer)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            *shared,
            structlog.stdlib.ExtraAdder(allow=_TEMPORAL_EXTRAS),
        ],
        processors=final,
    )

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level)

    _quiet_temporal_messages()


def _quiet_temporal_messages() -> None:
    # Temporal appends its context dict to the message text by default; in JSON it is
    # already a field (see _TEMPORAL_EXTRAS), so the message stays the plain event name.
    from temporalio import activity, workflow

    workflow.logger.workflow_info_on_message = False
    workflow.logger.full_workflow_info_on_extra = False
    activity.logger.activity_info_on_message = False


def get_logger(name: str | None = None, **context: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger; bind context such as `dossier=` once, then log dotted events."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger.bind(**context) if context else logger
