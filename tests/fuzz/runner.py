"""One fuzz case = one inspector subprocess under a memory limit (RLIMIT_AS) and a timeout."""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .strategies import Case

__all__ = ["Outcome", "Tally", "run_case"]

REPO = Path(__file__).resolve().parents[2]
#: address space of one case; the peak RSS is measured and reported separately
MEMORY_LIMIT = 2 << 30
TIMEOUT = 60.0
# Raw control characters (C0 but tab and newline, DEL, C1 as UTF-8): never on stdout or stderr.
_RAW_CONTROL = re.compile(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]")


@dataclass
class Outcome:
    family: str
    name: str
    exit_code: int | None  # None: killed by the timeout
    traceback: bool
    raw_control: bool
    peak_rss_kib: int
    stderr_tail: str

    @property
    def bad(self) -> bool:
        return (self.exit_code not in (0, 1, 2)) or self.traceback or self.raw_control


@dataclass
class Tally:
    cases: Counter = field(default_factory=Counter)
    exit_codes: dict = field(default_factory=dict)  # family -> Counter of exit codes ("hang" for a timeout)
    tracebacks: Counter = field(default_factory=Counter)
    hangs: Counter = field(default_factory=Counter)
    raw_control: Counter = field(default_factory=Counter)
    peak_rss_kib: Counter = field(default_factory=Counter)  # family -> largest peak
    bad: list = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        family = outcome.family
        self.cases[family] += 1
        code = "hang" if outcome.exit_code is None else outcome.exit_code
        self.exit_codes.setdefault(family, Counter())[code] += 1
        self.tracebacks[family] += outcome.traceback or outcome.exit_code == 3
        self.hangs[family] += outcome.exit_code is None
        self.raw_control[family] += outcome.raw_control
        self.peak_rss_kib[family] = max(self.peak_rss_kib[family], outcome.peak_rss_kib)
        if outcome.bad or outcome.exit_code is None:
            self.bad.append(outcome)


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_case(case: Case, workdir: Path, keep_bad: Path | None = None, timeout: float = TIMEOUT) -> Outcome:
    """Run ``inspector <command> FILE`` on the case's bytes; the outcome says what came out."""
    path = workdir / case.name
    path.write_bytes(case.data)
    with tempfile.NamedTemporaryFile("r", dir=workdir, suffix=".rss", delete=False) as rss_file:
        rss_path = rss_file.name
    env = dict(os.environ, INSPECTOR_FUZZ_RSS=rss_path, PYTHONPATH=str(REPO), NO_COLOR="1")
    argv = [sys.executable, "-m", "tests.fuzz.child", *case.command, str(path)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=REPO, env=env,
                                preexec_fn=_limits)
        try:
            code: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
        out.seek(0)
        err.seek(0)
        raw = bool(_RAW_CONTROL.search(err.read()))
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
        stdout_raw = bool(_RAW_CONTROL.search(out.read()))
    text = Path(rss_path).read_text() if os.path.getsize(rss_path) else "0"
    os.unlink(rss_path)
    outcome = Outcome(case.family, case.name, code, "Traceback (most recent call last)" in stderr,
                      raw or stdout_raw, int(text or 0), stderr[-400:])
    if keep_bad is not None and (outcome.bad or code is None):
        keep_bad.mkdir(parents=True, exist_ok=True)
        (keep_bad / f"{case.family}-{len(list(keep_bad.iterdir()))}-{case.name}").write_bytes(case.data)
    path.unlink()
    return outcome
