"""A command loads what it uses, so the CLI answers at once and every command starts quickly.

Each case runs in a fresh interpreter and lists the modules it ended up with:
``pmsync --help`` loads no database, configuration or client library; a
command that reads the configuration imports every connector to validate its
settings, but none of the client libraries they pull with (PyGithub, the Google
clients, jira, icalendar); a store already at the newest schema opens without
Alembic; a pull worker makes the store's rows without loading the store. The
figures are in docs/benchmarks.md ("Starting a command"; the worker's under
"The rounds", the sixteenth, and in section 4).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from worlds import SANDBOX_SECRETS

from pmsync.records import Page, PersonRef, WorkItem, WorkItemChange
from pmsync.rows import sort_records
from pmsync.upsert import ROW_SPECS

ROOT = Path(__file__).resolve().parents[1]

CLIENT_LIBRARIES = {
    "github",  # PyGithub
    "googleapiclient",
    "google.oauth2",
    "httplib2",
    "jira",
    "icalendar",
    "recurring_ical_events",
}


def _run(code: str, **env: str) -> tuple[set[str], str]:
    """Run ``code`` in a new interpreter; return the modules it had loaded and its output."""
    report = "\nimport json as _j, sys as _s\nprint(_j.dumps(sorted(_s.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", code + report],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    *output, modules = done.stdout.splitlines()
    return set(json.loads(modules)), "\n".join(output)


def _cli(*args: str) -> str:
    return (
        "import sys\nfrom pmsync.cli import main\n"
        f"sys.argv = ['pmsync', *{list(args)!r}]\n"
        "try:\n    main()\nexcept SystemExit as stop:\n    assert not stop.code, stop.code\n"
    )


def test_help_loads_no_database_configuration_or_client_library() -> None:
    loaded, output = _run(_cli("--help"))
    assert "sync" in output and "report" in output  # the commands are all listed
    heavy = {"sqlalchemy", "alembic", "pydantic", "numpy", "pmsync.store", "pmsync.config"}
    assert not loaded & (heavy | CLIENT_LIBRARIES)


def test_validating_the_configuration_imports_connectors_but_not_their_clients() -> None:
    secrets = dict.fromkeys(SANDBOX_SECRETS, "a-secret")  # what the committed config references
    loaded, output = _run(_cli("--config", str(ROOT / "config"), "config", "validate"), **secrets)
    assert "valid" in output.lower()
    # every bundled connector was imported, its settings checked ...
    assert {"pmsync_jira", "pmsync_github", "pmsync_gcal", "pmsync_ics"} <= loaded
    # ... and nothing that only talking to the service needs
    assert not loaded & (CLIENT_LIBRARIES | {"alembic"})


def test_a_store_at_the_newest_schema_opens_without_alembic(db_url: str, tmp_path: Path) -> None:
    open_store = (
        "from pathlib import Path\nfrom pmsync.store import Store\n"
        f"store = Store.open({db_url!r}, var_dir=Path({str(tmp_path)!r}))\n"
        "store.upgrade()\nassert store.is_current()\nstore.close()\n"
    )
    first, _ = _run(open_store)  # an empty database: Alembic migrates it
    assert "alembic" in first
    again, _ = _run(open_store)  # at head: one query tells, nothing to import
    assert "alembic" not in again
    assert "sqlalchemy" in again


def test_a_pull_worker_makes_the_stores_rows_without_loading_the_store(tmp_path: Path) -> None:
    """A worker has what the fork server loads (``connector_modules``) and its ``RowSpec``s.

    Making a page's rows there must load neither SQLAlchemy nor the model: each
    worker of a first sync paid 0.27 s of CPU for them (docs/benchmarks.md). The
    rows it makes are the ones this process makes.
    """
    at = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    records = (
        WorkItem(
            "10001",
            "PAY-1",
            "<script>alert(1)</script>",
            "PAY",
            "Story",
            "Done",
            "done",
            at,
            at,
            assignee=PersonRef("ana", "Ana"),
            raw={"fields": {"summary": "<script>alert(1)</script>"}, "id": "10001"},
        ),
        WorkItemChange("10001-1", "10001", at, "status", "To Do", "Done", PersonRef("ana")),
    )
    sent = tmp_path / "page.pickle"
    sent.write_bytes(pickle.dumps((ROW_SPECS, Page(records))))
    loaded, output = _run(
        "import importlib, pickle\n"
        "from pmsync.processes import connector_modules\n"
        "for name in connector_modules():\n    importlib.import_module(name)\n"
        "from pmsync.rows import sorted_page\n"
        f"specs, page = pickle.loads(open({str(sent)!r}, 'rb').read())\n"
        "made = sorted_page(page, specs).rows\n"
        "print(sorted((k, i, r['payload_hash']) for k, rs in made.rows.items() "
        "for i, r in rs.items()), sorted(made.people))\n"
    )
    assert not loaded & {"sqlalchemy", "pmsync.model", "pmsync.upsert", "pmsync.store"}
    here = sort_records(records, ROW_SPECS, predump=True)
    hashes = sorted((k, i, r["payload_hash"]) for k, rs in here.rows.items() for i, r in rs.items())
    assert output == f"{hashes} {sorted(here.people)}"
    assert len(hashes) == 2
