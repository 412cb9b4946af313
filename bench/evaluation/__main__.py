"""`python -m bench.evaluation`: every stage over the grid of evaluation dials (docs/evaluation.md).

Prints one Markdown table per stage with the issue 15 targets, and writes them to `--out`.
Progress goes to stderr, one line per finished scenario.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.evaluation.grid import DAYS, GRID, HELD_OUT_SEEDS, QUICK_GRID, run_grid
from bench.evaluation.tables import render

QUICK_DAYS = 21.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.evaluation", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help=f"dials off and hardest only, one seed, {QUICK_DAYS:g} days")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help=f"default: the held-out seeds {HELD_OUT_SEEDS}")  # fmt: skip
    parser.add_argument("--days", type=float, default=None, help=f"default {DAYS:g}")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--only", nargs="+", choices=sorted(GRID), default=None,
                        help="dials settings to run (default: the whole grid)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=None, help="also write the tables here")
    args = parser.parse_args(argv)
    names = args.only or (list(QUICK_GRID) if args.quick else list(GRID))
    seeds = args.seeds or (HELD_OUT_SEEDS[:1] if args.quick else HELD_OUT_SEEDS)
    days = args.days or (QUICK_DAYS if args.quick else DAYS)
    began = time.monotonic()
    totals = run_grid(names, seeds, days, args.jobs,
                      lambda line: print(line, file=sys.stderr, flush=True))  # fmt: skip
    # Quoted as a shell would need it: dials names hold spaces.
    command = "python -m bench.evaluation " + shlex.join(argv if argv is not None else sys.argv[1:])
    heading = (
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {_commit()}\n\n"
        f"`{command.strip()}`: seeds {', '.join(map(str, seeds))}, {days:g} days each, "
        f"{args.jobs} processes on {os.cpu_count()} cores (Python {platform.python_version()}),"
        f" {time.monotonic() - began:.0f} s."
    )
    text = render(totals, heading)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    main()
