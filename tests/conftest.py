"""Suite-wide set-up: everything under tests/integration is marked ``integration``.

``python -m pytest tests/unit`` runs the unit tests alone (no subprocess, server or external tool);
``python -m pytest -m integration`` the integration tests alone; ``python -m pytest`` everything.
Hypothesis runs derandomized (the same examples every run); ``--hypothesis-profile=explore`` searches anew.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run, so a run's result depends on the code alone;
# `--hypothesis-profile=explore` draws new examples (a search for new counterexamples).
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("repeatable")

_INTEGRATION = Path(__file__).resolve().parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _INTEGRATION in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)
