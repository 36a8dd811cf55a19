"""The real worker (`worker.main`) plus the benchmark's minimal workflow, for
bench/case_throughput.py: one process, as in production, so its memory can be measured."""

from __future__ import annotations

import asyncio

import worker
from bench.minimal_workflow import BenchMinimal, touch

if __name__ == "__main__":
    asyncio.run(worker.main(extra_workflows=[BenchMinimal], extra_activities=[touch]))
