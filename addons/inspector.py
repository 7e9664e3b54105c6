"""mitmproxy script: ``mitmdump -s addons/inspector.py`` (see inspector/mitm/addon.py for what it does).

Works from a checkout without installing the package: when ``inspector`` is not importable, the repository
root (this file's parent's parent) is put on ``sys.path`` first.
"""

import sys
from pathlib import Path

try:
    import inspector.mitm.addon  # noqa: F401
except ModuleNotFoundError as exc:
    if exc.name not in ("inspector", "inspector.mitm", "inspector.mitm.addon"):
        raise
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspector.mitm.addon import addons  # noqa: E402

__all__ = ["addons"]
