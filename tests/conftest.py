"""Suite-wide set-up: everything under tests/integration is marked ``integration``.

``python -m pytest tests/unit`` runs the unit tests alone (no subprocess, server or external tool);
``python -m pytest -m integration`` the integration tests alone; ``python -m pytest`` everything.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_INTEGRATION = Path(__file__).resolve().parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _INTEGRATION in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)
