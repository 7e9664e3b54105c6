"""A short fuzz run (tests/fuzz): every family, a few dozen inputs each, in subprocesses under
RLIMIT_AS and a timeout; no traceback, no hang, no raw control character, documented exit codes."""

from __future__ import annotations

import random

from fuzz.__main__ import generated
from fuzz.mutate import mutations
from fuzz.runner import Tally, run_case
from fuzz.strategies import FAMILIES

PER_FAMILY = 24


def test_short_fuzz_run(tmp_path):
    cases = [case for family in FAMILIES for case in generated(family, PER_FAMILY, 7)]
    cases += mutations(random.Random(7), PER_FAMILY * 4)
    tally = Tally()
    for case in cases:
        tally.add(run_case(case, tmp_path, timeout=60))
    assert sum(tally.cases.values()) >= 200
    assert not tally.bad, [(o.family, o.name, o.exit_code, o.stderr_tail) for o in tally.bad[:5]]
    assert max(tally.peak_rss_kib.values()) < 300 * 1024
