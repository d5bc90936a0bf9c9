"""The connector contract, run against every installed connector.

Every bundled connector (and any third-party one installed beside them) must
pass this suite: a strict settings model, well-formed stream declarations, and,
against the sandbox, full pulls that yield only the declared record kinds with
JSON cursors, and incremental pulls from the final cursor that bring nothing
new when nothing changed. A new connector gets these checks for free.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from pmsync.connectors import Connector, ConnectorContext, load_connectors
from pmsync.records import Page, Record

CONNECTORS = load_connectors()
NAMES = sorted(CONNECTORS)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[dict[str, Any]]:
    """A small generated world served by the sandbox; yields its endpoints."""
    from pmsync.sandbox.app import Sandbox
    from pmsync.sandbox.generate import generate

    box = Sandbox(generate(projects=2, items=40, seed=11)).start()
    try:
        yield box.endpoints()
    finally:
        box.stop()


def connector_for(name: str, endpoints: dict[str, Any], secrets_dir: Path) -> Connector:
    """Instantiate connector ``name`` pointed at the sandbox, secrets written to files."""
    cls = CONNECTORS[name]
    settings = cls.sandbox_settings(endpoints)
    assert settings is not None, f"{name} offers no sandbox settings: it cannot be demonstrated"
    for file_name, value in cls.sandbox_secrets(endpoints).items():
        (secrets_dir / "secrets").mkdir(exist_ok=True)
        (secrets_dir / "secrets" / file_name).write_text(value)
    context = ConnectorContext(source_name=name, sleep=lambda seconds: None, retry_budget=30)
    return cls(cls.settings_model.model_validate(settings), context)


@pytest.mark.parametrize("name", NAMES)
def test_settings_refuse_unknown_keys(name: str) -> None:
    model = CONNECTORS[name].settings_model
    with pytest.raises(ValidationError, match="extra"):
        model.model_validate({"surely_not_a_setting": 1})
    assert model.model_json_schema()["type"] == "object"


@pytest.mark.parametrize("name", NAMES)
def test_streams_are_named_once_and_documented(name: str) -> None:
    streams = CONNECTORS[name].streams
    names = [s.name for s in streams]
    assert len(names) == len(set(names)), f"{name} declares a stream twice: {names}"
    assert all(s.description for s in streams), f"{name}: every stream needs a description"


def _pull(connector: Connector, stream: str, cursor: Any, *, full: bool) -> list[Page]:
    pages = list(connector.pull(stream, cursor, full=full))
    declared = set(connector.stream(stream).record_kinds)
    for page in pages:
        kinds = {r.kind for r in page.records}
        assert kinds <= declared, f"{stream} yields undeclared kinds {kinds - declared}"
        if page.cursor is not None:
            json.dumps(page.cursor)  # the store keeps cursors as JSON
    return pages


def _last_cursor(pages: list[Page]) -> Any:
    cursors = [p.cursor for p in pages if p.cursor is not None]
    return cursors[-1] if cursors else None


@pytest.mark.parametrize("name", NAMES)
def test_full_then_unchanged_incremental_pull(
    name: str, sandbox: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # file: secret references resolve here
    connector = connector_for(name, sandbox, tmp_path)
    try:
        total = 0
        for spec in connector.streams:
            full_pages = _pull(connector, spec.name, None, full=True)
            records: list[Record] = [r for p in full_pages for r in p.records]
            total += len(records)
            assert not [r for r in records if r.kind == "quarantined"], (
                f"{name}/{spec.name}: the sandbox's well-formed data was quarantined"
            )
            again = _pull(connector, spec.name, _last_cursor(full_pages), full=False)
            new = [r for p in again for r in p.records if r not in records]
            assert new == [], f"{name}/{spec.name}: nothing changed, yet {len(new)} new records"
        assert total > 0, f"{name} pulled nothing from the sandbox"
    finally:
        connector.close()
