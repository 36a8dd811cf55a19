"""`python -m bench.decade`: ten years of the whole process at the size of the real register,
on the time-skipping server, every legal promise checked each simulated day.

    .venv/bin/python -m bench.decade                          # 4,900 trainings, 2027-2036
    .venv/bin/python -m bench.decade --trainings 300 --shard-size 300
    .venv/bin/python -m bench.decade --seed 7 --negative 0.25 --out /tmp/decade
    .venv/bin/python -m bench.decade --out /tmp/decade --resume   # goes on after a stop

Starts one embedded PostgreSQL, then plays the register in shards (independent slices of
trainings, each on its own time-skipping server and database, `--parallel` at a time),
writes the report (an index in Markdown, an HTML page per year, results.json) to `--out`,
keeps each finished shard's result in `--out`/shards/ (so that `--resume` plays only the
missing ones), and exits 1 when any promise was broken (the violations are listed there,
with the dossier and the day), 2 on a parameter it cannot play.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from datetime import date
from pathlib import Path

from bench.decade.params import Faults, ParamError, Params, Rates
from bench.decade.play import play_shards
from bench.decade.run import shard_process
from runtime.logging import configure_logging


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.decade",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    d = Params()
    p.add_argument("--trainings", type=int, default=d.trainings, help="registered at the start")
    p.add_argument("--years", type=int, default=d.years)
    p.add_argument("--start-year", type=int, default=d.start_year)
    p.add_argument("--seed", type=int, default=d.seed, help="the same seed plays the same decade")
    p.add_argument("--shard-size", type=int, default=d.shard_size, help="trainings per shard")
    p.add_argument("--parallel", type=int, default=d.parallel, help="shards at the same time")
    p.add_argument("--providers-per-100", type=float, default=d.providers_per_100)
    p.add_argument("--agree-sample", type=int, default=d.agree_sample,
                   help="live cases a day whose workflow and registry are compared")  # fmt: skip
    p.add_argument("--history-sample", type=int, default=d.history_sample,
                   help="live cases a day whose history length is read")  # fmt: skip
    p.add_argument("--as-of-sample", type=int, default=d.as_of_sample,
                   help="cases a day whose as-of answer meets the open data")  # fmt: skip
    rates = p.add_argument_group("rates (defaults: the 2021 screening, or a guess)")
    for f in dataclasses.fields(Rates):
        rates.add_argument(f"--{f.name.replace('_', '-')}", type=float, default=f.default)
    faults = p.add_argument_group("faults")
    for f in dataclasses.fields(Faults):
        flag = f"--{f.name.replace('_', '-')}"
        if f.name == "smtp_outage_hours":
            faults.add_argument(flag, type=float, nargs=2, metavar=("LOW", "HIGH"),
                                default=list(f.default))  # type: ignore[arg-type]  # fmt: skip
        else:
            faults.add_argument(flag, type=float, default=f.default)
    p.add_argument("--out", type=Path, default=Path(".dev/decade"), help="report folder")
    p.add_argument("--keep", action="store_true",
                   help="keep the shards' databases, mail and logs in --out")  # fmt: skip
    p.add_argument("--resume", action="store_true",
                   help="play only the shards whose results --out/shards/ does not hold yet "
                   "(same parameters); without it a run starts over")  # fmt: skip
    # A shard as a process of its own (started by the command itself).
    p.add_argument("--run-shard", type=int, help=argparse.SUPPRESS)
    p.add_argument("--dsn", help=argparse.SUPPRESS)
    p.add_argument("--params", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    return p


def params_of(args: argparse.Namespace) -> Params:
    rates = Rates(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Rates)})
    fault_values = {f.name: getattr(args, f.name) for f in dataclasses.fields(Faults)}
    fault_values["smtp_outage_hours"] = tuple(fault_values["smtp_outage_hours"])
    return Params(
        trainings=args.trainings,
        years=args.years,
        start_year=args.start_year,
        seed=args.seed,
        shard_size=args.shard_size,
        parallel=args.parallel,
        providers_per_100=args.providers_per_100,
        agree_sample=args.agree_sample,
        history_sample=args.history_sample,
        as_of_sample=args.as_of_sample,
        rates=rates,
        faults=Faults(**fault_values),
    )


async def play(params: Params, out: Path, keep: bool, resume: bool) -> int:
    try:
        decade = await play_shards(params, out, keep=keep, resume=resume)
    except ParamError as exc:
        print(f"python -m bench.decade: error: {exc}", file=sys.stderr)
        return 2
    print(decade.index.read_text().split("## Per simulated year")[0].rstrip())
    print(f"\nreport: {decade.index}")
    return 1 if decade.violations else 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.run_shard is not None:
        if not (args.dsn and args.params and args.folder):
            parser().error("--run-shard needs --dsn, --params and --folder")
        try:
            return asyncio.run(shard_process(args.run_shard, args.dsn, args.params, args.folder))
        except ParamError as exc:
            print(f"python -m bench.decade: error: {exc}")
            return 2
    params = params_of(args)
    try:
        params.check()
    except ParamError as exc:
        parser().error(str(exc))
    if date(params.start_year, 1, 1) <= date.today():
        # The time-skipping server starts at the machine's time and only moves forward.
        parser().error(
            f"--start-year: {params.start_year} has begun or passed; the time-skipping server "
            f"starts today and its time only moves forward: choose {date.today().year + 1} "
            "or later"
        )
    configure_logging("WARNING")
    return asyncio.run(play(params, args.out, args.keep, args.resume))


if __name__ == "__main__":
    sys.exit(main())
