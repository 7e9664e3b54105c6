"""The documentation names only what a person cloning the repository has.

Every repository path that README.md, docs/*.md, bench/README.md, fixtures/README.md and tests/README.md
name (``inspector/...``, ``tests/...``, ``bench/...``, ``fixtures/...``, ``addons/...``, relative Markdown
links) must exist; none of them may point outside the repository (a sibling folder of the checkout, ``/work``, a virtual
environment) or carry a date.
"""

import ast
import glob
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted(
    [ROOT / "README.md", ROOT / "bench" / "README.md", ROOT / "fixtures" / "README.md", ROOT / "tests" / "README.md"]
    + list((ROOT / "docs").glob("*.md"))
)
DOCS = [doc for doc in DOCS if doc.exists()]

# a repository path: one of the top-level folders, then path characters; not part of a longer word or path
PATH = re.compile(r"(?<![\w./-])((?:inspector|tests|bench|fixtures|addons|docs)/[\w./*-]*)")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
FORBIDDEN = [
    (re.compile(r"\.\./shared"), "a path outside the repository"),
    (re.compile(r"(?<![\w.])/work\b"), "a path of the development machine"),
    (re.compile(r"\.venv\w*|\bvenv3\d+"), "a virtual environment's path"),
    (re.compile(r"\b(?:19|20)\d\d-[01]\d-[0-3]\d\b"), "a date"),
    (re.compile(r"\bissue \d+", re.IGNORECASE), "an issue number"),
]


def _paths(text: str) -> set[str]:
    found = set()
    for match in PATH.finditer(text):
        path = match.group(1).rstrip(".,:;")
        if path.endswith("/...") or "..." in path:
            continue
        found.add(path)
    return found


def _exists(path: str, base: Path) -> bool:
    target = (base / path) if not path.startswith("/") else Path(path)
    if any(ch in path for ch in "*?["):
        return bool(glob.glob(str(target)))
    return target.exists()


def test_the_documents_exist():
    names = {p.relative_to(ROOT).as_posix() for p in DOCS}
    for required in ("README.md", "docs/offline.md", "docs/live.md", "docs/cli.md", "docs/sse.md",
                     "docs/websocket.md", "docs/classify.md", "docs/internals.md", "docs/records.md",
                     "docs/violations.md", "bench/README.md", "fixtures/README.md"):
        assert required in names


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_named_paths_exist(doc: Path):
    text = doc.read_text(encoding="utf-8")
    missing = sorted(p for p in _paths(text) if not _exists(p, ROOT))
    assert not missing, f"{doc.relative_to(ROOT)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(doc: Path):
    text = doc.read_text(encoding="utf-8")
    links = [m.group(1) for m in LINK.finditer(text) if "://" not in m.group(1) and not m.group(1).startswith("mailto:")]
    broken = sorted(link for link in links if not _exists(link, doc.parent))
    assert not broken, f"{doc.relative_to(ROOT)} links to files that do not exist: {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_nothing_outside_the_repository(doc: Path):
    text = doc.read_text(encoding="utf-8")
    problems = [f"{what}: {m.group(0)!r}" for pattern, what in FORBIDDEN for m in pattern.finditer(text)]
    assert not problems, f"{doc.relative_to(ROOT)}: {problems}"


def test_readme_is_short():
    assert len((ROOT / "README.md").read_bytes()) <= 12 * 1024


def test_readme_keeps_the_set_up_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for command in ('python3 -m pip install -e ".[test]"', "python3 -m pytest", "python3 -m pytest tests/unit"):
        assert command in text


def test_the_checker_finds_what_it_must():
    """The patterns above catch a missing path, a broken link and every forbidden kind."""
    assert _paths("see inspector/ws/frames.py, and tests/unit/.") == {"inspector/ws/frames.py", "tests/unit/"}
    assert not _exists("inspector/frames.py", ROOT)
    assert _exists("fixtures/pcap/*.expected.json", ROOT)
    assert "python -m inspector.mitm.options" not in " ".join(_paths("python -m inspector.mitm.options"))
    samples = ["../" + "shared/spec/records.md", "/work/main", "../../" + ".venv/bin/python", ".venv" + "312", "venv311",
               "on 2026-11-28", "issue 5"]
    for sample in samples:
        assert any(pattern.search(sample) for pattern, _ in FORBIDDEN), sample
    assert not any(pattern.search("RFC 6455 5.7, 1000-1015, 3.11") for pattern, _ in FORBIDDEN)


def test_no_source_file_names_a_path_outside_the_repository():
    """Docstrings, comments and usage lines too: a person cloning the repository has none of these."""
    problems = []
    for folder in ("inspector", "tests", "bench", "fixtures", "addons"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == Path(__file__).resolve():
                continue
            text = path.read_text(encoding="utf-8")
            for pattern, what in FORBIDDEN[:3]:
                problems += [f"{path.relative_to(ROOT)}: {what}: {m.group(0)!r}" for m in pattern.finditer(text)]
    assert not problems, problems


def _only_reexports(path: Path) -> bool:
    """A package ``__init__`` that holds nothing but a docstring, imports and ``__all__``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"]:
            continue
        return False
    return True


def test_internals_names_every_module():
    """docs/internals.md describes the package module by module: a new module needs its row."""
    text = (ROOT / "docs" / "internals.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("|")]
    missing = []
    for path in sorted((ROOT / "inspector").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if path.name == "__init__.py" and _only_reexports(path):
            continue
        if rel == "inspector/__init__.py" or rel in text:
            continue
        folder = path.parent.relative_to(ROOT).as_posix() + "/"
        if not any(folder in row and f"`{path.name}`" in row for row in rows):
            missing.append(rel)
    assert not missing, f"docs/internals.md does not describe: {missing}"


def test_records_md_names_every_field():
    """docs/records.md is the records' documentation: every field of every record type is in it."""
    import msgspec

    from inspector import records

    text = (ROOT / "docs" / "records.md").read_text(encoding="utf-8")
    missing = []
    for name in dir(records):
        cls = getattr(records, name)
        if isinstance(cls, type) and issubclass(cls, msgspec.Struct) and cls is not msgspec.Struct:
            missing += [f"{name}.{field}" for field in cls.__struct_fields__ if f"`{field}`" not in text]
    assert not missing, f"docs/records.md does not name: {missing}"
