"""The connector registry: what an entry point loads is checked, with a clear error."""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator, Mapping
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from pmsync.connectors import (
    ENTRY_POINT_GROUP,
    Connector,
    ConnectorSettings,
    StreamSpec,
    load_connectors,
)
from pmsync.errors import ConnectorLoadError
from pmsync.records import Page


class GoodSettings(ConnectorSettings):
    url: str


class GoodConnector(Connector):
    settings_model = GoodSettings
    streams = (StreamSpec("items", ("work_item", "deletion")),)

    def pull(
        self, stream: str, cursor: Mapping[str, Any] | None, *, full: bool = False
    ) -> Iterator[Page]:
        yield Page(records=[])


class Abstract(Connector):
    settings_model = GoodSettings
    streams = (StreamSpec("items", ("work_item",)),)


class UnknownKind(GoodConnector):
    streams = (StreamSpec("items", ("tickets",)),)


class NoStreams(GoodConnector):
    streams = ()


class NotPydantic(GoodConnector):
    settings_model = dict  # type: ignore[assignment]


@pytest.fixture
def plugin_module(monkeypatch: pytest.MonkeyPatch) -> str:
    """A module of candidate connectors that entry points can point at."""
    module = types.ModuleType("fake_pmsync_plugins")
    for cls in (GoodConnector, Abstract, UnknownKind, NoStreams, NotPydantic):
        setattr(module, cls.__name__, cls)
    module.not_a_class = 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module.__name__


def ep(name: str, value: str) -> EntryPoint:
    return EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP)


def test_a_connector_loads_under_its_entry_point_name(plugin_module: str) -> None:
    registry = load_connectors([ep("good", f"{plugin_module}:GoodConnector")])
    assert registry == {"good": GoodConnector}


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("not_a_class", r"entry point 'bad = .*:not_a_class'.* loads 42, which is not a pmsync"),
        ("Abstract", r"loads Abstract, which does not implement pull\(\)"),
        ("UnknownKind", r"stream 'items' declares unknown record kinds \['tickets'\]"),
        ("NoStreams", r"NoStreams.streams must be a tuple of StreamSpec"),
        ("NotPydantic", r"settings_model is not a pydantic model"),
    ],
)
def test_an_entry_point_that_is_not_a_connector_is_named(
    plugin_module: str, target: str, message: str
) -> None:
    with pytest.raises(ConnectorLoadError, match=message):
        load_connectors([ep("bad", f"{plugin_module}:{target}")])


def test_an_entry_point_that_fails_to_import_is_named() -> None:
    with pytest.raises(
        ConnectorLoadError, match=r"'broken = no_such_module_xyz:C'.*failed to import"
    ):
        load_connectors([ep("broken", "no_such_module_xyz:C")])


def test_two_connectors_with_one_name_are_refused(plugin_module: str) -> None:
    with pytest.raises(ConnectorLoadError, match="already installed"):
        load_connectors(
            [
                ep("good", f"{plugin_module}:GoodConnector"),
                ep("good", f"{plugin_module}:GoodConnector"),
            ]
        )


def test_the_bundled_connectors_are_installed() -> None:
    registry = load_connectors()
    assert {"jira", "github", "gcal", "ics"} <= set(registry)
