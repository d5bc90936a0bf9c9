"""Shared fixtures: a migrated store on SQLite and, when configured, on PostgreSQL.

Tests that take ``store`` (or ``db_url``) run once per backend. PostgreSQL runs
only when ``PMSYNC_TEST_DATABASE_URL`` is set (``.ci/run`` sets it); otherwise
those runs are skipped with the reason. Each PostgreSQL test gets a schema of
its own, selected through the URL's ``options=-csearch_path=...``, so parallel
or repeated runs never see each other's rows, and anything that only takes a
URL (the CLI, the daemon) can be pointed at it too. The schema is dropped
afterwards.

Other test modules use the fixtures ``db_backend``, ``db_url``, ``store`` and
``make_store`` (a factory for more stores on the same database: replicas,
reopening after a crash). ``module_db_url`` is a database of each backend that
the tests of one module share, and ``synced`` the module's ``shared`` sandbox
world (a fixture the module defines) synced into it once, for tests that only
read it.

This folder is put on ``sys.path`` so that test modules can import the shared
helpers beside them (``worlds``: the sandbox worlds of the end-to-end tests).
"""

from __future__ import annotations

import gc
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from pmsync.connectors import Clock, utc_now
from pmsync.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))

PG_ENV = "PMSYNC_TEST_DATABASE_URL"


@pytest.fixture(autouse=True)
def _unfreeze_heap() -> Iterator[None]:
    """Give the collector back what a command run in this process froze.

    ``pmsync sync`` and ``pmsync run`` freeze the heap once loaded
    (``pmsync.processes.settle_startup``), which is right for a process of
    their own; tests run them many times in one, and a test's stores must
    still be freed after it. It also collects the young generation less
    often; the next test gets Python's thresholds back.
    """
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def _postgres_schema_url() -> Iterator[str]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://user@host/db)")
    schema = f"pmsync_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def db_backend(request: pytest.FixtureRequest) -> str:
    """The backend under test: ``sqlite`` or ``postgresql``."""
    return str(request.param)


@pytest.fixture
def db_url(db_backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of ``db_backend`` of this test's own."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'pmsync.db'}"
    else:
        yield from _postgres_schema_url()


@pytest.fixture(scope="module", params=BACKENDS)
def module_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A URL to an empty database of each backend, shared by the tests of one module."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'pmsync.db'}"
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def make_store(db_url: str, tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """Return a factory of migrated stores on ``db_url``; all are closed afterwards."""
    opened: list[Store] = []

    def factory(now: Clock = utc_now) -> Store:
        store = Store.open(db_url, var_dir=tmp_path / "var", now=now)
        opened.append(store)
        store.upgrade()
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., Store]) -> Store:
    """A migrated store on a database of this test's own, on each backend."""
    return make_store()


@pytest.fixture(scope="module")
def synced(
    shared: Any, module_db_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """The module's ``shared`` world synced once into a store of each backend, to be read."""
    store = Store.open(module_db_url, var_dir=tmp_path_factory.mktemp("var"))
    try:
        store.upgrade()
        shared.sync(store)
        yield store
    finally:
        store.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Collect the modules of the slow tests first, keeping every other order as it was.

    ``make test`` hands whole modules to its workers (``--dist=loadscope``) in the
    order they are collected. The crash tests of ``test_sync_e2e`` and the
    daemon's (2-3 minutes each on a slow machine) used to start last, and the
    suite waited for them on one worker while the other sat idle.
    """
    # By module, not by test: a module's tests stay together, so a module-scoped
    # fixture is built once in one process too (``make test PYTEST_PARALLEL=``).
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)
