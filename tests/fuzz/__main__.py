"""The long fuzz run: ``python -m tests.fuzz --cases 3000 [--seed N] [--out DIR] [--timeout S]``.

Half the cases come from the hypothesis strategies (spread over the families), half from the mutation
corpus; every case runs in its own inspector subprocess (RLIMIT_AS, timeout). Prints a table by family
(cases, tracebacks, hangs, raw control characters, peak RSS, exit codes) and keeps every bad input in
``--out``. Exit status 1 when any case had a traceback, hung or printed a raw control character.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings

from .mutate import mutations
from .runner import Tally, run_case
from .strategies import FAMILIES, Case


def generated(family: str, count: int, random_seed: int) -> list[Case]:
    """``count`` cases drawn by hypothesis from one family's strategy."""
    cases: list[Case] = []

    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @seed(random_seed)
    @given(FAMILIES[family])
    def collect(case: Case) -> None:
        cases.append(case)

    collect()
    return cases[:count]


def all_cases(total: int, random_seed: int) -> list[Case]:
    per_family = max(1, total // 2 // len(FAMILIES))
    cases = [case for family in FAMILIES for case in generated(family, per_family, random_seed)]
    cases += mutations(random.Random(random_seed), max(1, total - len(cases)))
    random.Random(random_seed).shuffle(cases)
    return cases


def table(tally: Tally) -> str:
    lines = ["| family | inputs | tracebacks | hangs | raw control chars | peak RSS (MB) | exit codes |",
             "|---|---|---|---|---|---|---|"]
    for family in sorted(tally.cases):
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(tally.exit_codes[family].items(), key=str))
        lines.append(f"| {family} | {tally.cases[family]} | {tally.tracebacks[family]} | {tally.hangs[family]} | "
                     f"{tally.raw_control[family]} | {tally.peak_rss_kib[family] / 1024:.0f} | {codes} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per case")
    parser.add_argument("--out", type=Path, default=Path("fuzz-out"), help="where bad inputs and summary.json go")
    args = parser.parse_args()
    started = time.monotonic()
    tally = Tally()
    cases = all_cases(args.cases, args.seed)
    with tempfile.TemporaryDirectory() as work:
        for number, case in enumerate(cases, 1):
            outcome = run_case(case, Path(work), keep_bad=args.out / "bad", timeout=args.timeout)
            tally.add(outcome)
            if outcome.bad or outcome.exit_code is None:
                print(f"BAD {case.family} {case.name} exit={outcome.exit_code}: {outcome.stderr_tail[-200:]}",
                      file=sys.stderr)
            if number % 50 == 0:
                print(f"{number}/{len(cases)} cases, {time.monotonic() - started:.0f} s", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"cases": len(cases), "seed": args.seed, "seconds": round(time.monotonic() - started),
               "families": {f: {"inputs": tally.cases[f], "tracebacks": tally.tracebacks[f], "hangs": tally.hangs[f],
                                "raw_control": tally.raw_control[f], "peak_rss_mb": round(tally.peak_rss_kib[f] / 1024),
                                "exit_codes": {str(k): v for k, v in tally.exit_codes[f].items()}}
                            for f in tally.cases}}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(table(tally))
    return 1 if tally.bad else 0


if __name__ == "__main__":
    sys.exit(main())
