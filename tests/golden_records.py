"""Records of every fixture, for checking that a change keeps them byte-identical.

    python tests/golden_records.py save DIR      # write DIR/<fixture>.jsonl for every fixture
    python tests/golden_records.py compare DIR   # exit 1 naming every fixture whose records differ
    python tests/golden_records.py compare DIR --new-fields   # the same, but a field the saved record
                                                              # lacks and that is null now is allowed

Each fixture is run through ``inspector analyze --jsonl`` (flow files only where the installed mitmproxy
reads them). Run ``save`` before a change and ``compare`` after it, with the same mitmproxy.
``--new-fields`` is for a change that adds optional fields to the records and must change nothing else.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SUFFIXES = {".pcap", ".pcapng", ".har", ".zip", ".flow"}


def fixtures() -> list[Path]:
    import mitmproxy.version

    major = mitmproxy.version.VERSION.split(".")[0]
    found = []
    for path in sorted(FIXTURES.rglob("*")):
        if path.suffix not in SUFFIXES:
            continue
        if path.suffix == ".flow" and not path.stem.endswith(f"-{major}"):
            continue
        found.append(path)
    return found


def records(path: Path) -> bytes:
    run = subprocess.run([sys.executable, "-m", "inspector", "analyze", "--jsonl", str(path)],
                         capture_output=True, check=False)
    return run.stdout + b"\n# exit " + str(run.returncode).encode() + b"\n"


def same_but_new_null_fields(saved: bytes, now: bytes) -> bool:
    """Equal line by line once fields absent from the saved record and null now are dropped."""
    old_lines, new_lines = saved.splitlines(), now.splitlines()
    if len(old_lines) != len(new_lines):
        return False
    for old, new in zip(old_lines, new_lines):
        if old == new:
            continue
        try:
            before, after = json.loads(old), json.loads(new)
        except ValueError:
            return False
        if not isinstance(before, dict) or not isinstance(after, dict):
            return False
        added = {key for key in after if key not in before and after[key] is None}
        if {key: value for key, value in after.items() if key not in added} != before:
            return False
    return True


def name(path: Path) -> str:
    return str(path.relative_to(FIXTURES)).replace("/", "__") + ".jsonl"


def main(argv: list[str]) -> int:
    new_fields = "--new-fields" in argv
    argv = [arg for arg in argv if arg != "--new-fields"]
    if len(argv) != 2 or argv[0] not in ("save", "compare"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    verb, folder = argv[0], Path(argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    differ = []
    for path in fixtures():
        out = records(path)
        target = folder / name(path)
        if verb == "save":
            target.write_bytes(out)
        elif not target.exists():
            differ.append(name(path))
        elif target.read_bytes() != out and not (new_fields and same_but_new_null_fields(target.read_bytes(), out)):
            differ.append(name(path))
    count = len(fixtures())
    if verb == "save":
        print(f"saved the records of {count} fixtures in {folder}")
        return 0
    for item in differ:
        print(f"differs: {item}")
    print(f"{count - len(differ)} of {count} fixtures identical")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
