"""Fixtures of the Jira connector's tests; the helpers live in ``jira_harness.py``."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

if "jira_harness" not in sys.modules:
    _spec = importlib.util.spec_from_file_location(
        "jira_harness", Path(__file__).with_name("jira_harness.py")
    )
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["jira_harness"] = _module
    _spec.loader.exec_module(_module)

from jira_harness import Site, start_site

from pmsync.store import Store


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """A Jira Cloud sandbox of the hand-built world, its bot user in UTC."""
    running = start_site(tmp_path)
    yield running
    running.running.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A migrated SQLite store."""
    opened = Store.open(f"sqlite:///{tmp_path / 'pmsync.db'}", var_dir=tmp_path)
    opened.upgrade()
    yield opened
    opened.close()
