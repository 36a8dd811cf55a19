"""The Temporal dev server every benchmark runs on: file-backed with the pragmas the dev
stack uses (WAL, synchronous=NORMAL), our search attributes, namespace `default`."""

from __future__ import annotations

from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from models import search
from runtime.settings import PROJECT_ROOT


async def start_dev_server(folder: Path) -> WorkflowEnvironment:
    return await WorkflowEnvironment.start_local(
        namespace="default",
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(PROJECT_ROOT / ".venv/bin/temporal"),
        dev_server_database_filename=str(folder / "temporal.db"),
        search_attributes=list(search.ALL),
        dev_server_extra_args=[
            "--sqlite-pragma", "journal_mode=wal",
            "--sqlite-pragma", "synchronous=normal",
        ],
    )  # fmt: skip
