"""Only inspector/mitm imports mitmproxy: every other module of the package is importable without it."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "inspector"


def _imports_mitmproxy(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        if any(name == "mitmproxy" or name.startswith("mitmproxy.") for name in names):
            lines.append(node.lineno)
    return lines


def test_only_the_mitm_package_imports_mitmproxy():
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 50  # the walk found the package
    outside = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in modules
        if "mitm" not in path.relative_to(PACKAGE).parts[:1] and (lines := _imports_mitmproxy(path))
    }
    assert outside == {}


def test_the_check_sees_an_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from mitmproxy import http\n")
    assert _imports_mitmproxy(sample) == [2]
