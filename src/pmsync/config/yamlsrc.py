"""YAML files with their node tree, so every error can name its line.

pydantic reports where a value is wrong as a ``loc`` path (``("milestones", 2,
"due")``); an admin needs ``projects/pay.yaml:41``. Each file is composed into
YAML nodes (which carry their marks) as well as loaded into plain data, and
``YamlDocument.locate`` walks the nodes along a ``loc``. A key that is missing
points at the line of the mapping that should hold it; an unknown key points at
itself. Duplicate keys, which PyYAML would silently collapse, are reported too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pmsync.errors import ConfigProblem

Loc = tuple[str | int, ...]


def _timestamp_or_text(loader: Any, node: yaml.ScalarNode) -> Any:
    """Keep an impossible date (2025-02-30) as text.

    PyYAML would raise a bare ValueError without a line; as text, the model's
    date validation reports it at its key like any other bad value.
    """
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


class _Loader(yaml.SafeLoader):
    """PyYAML's own parser: the reference, and the one whose errors name what it found."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)

_FastLoader: type[Any] | None = None
if getattr(yaml, "__with_libyaml__", False):

    class _CLoader(yaml.CSafeLoader):
        """libyaml's parser with the same constructors: about nine times faster."""

    _CLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)
    _FastLoader = _CLoader


def _parse(text: str) -> tuple[yaml.Node | None, Any]:
    """Return ``text``'s node tree and data: libyaml where it is there, else PyYAML's parser.

    A 43 KB ``pmsync.yaml`` (338 people) took 130 ms with PyYAML's Python
    parser, paid by every command and every configuration reload; libyaml
    takes 15 ms and gives the same nodes, lines and data. A file libyaml
    refuses is parsed again by the Python parser, which either reads it or
    words the error the way pmsync has always reported it ("expected ',' or
    '}', but got ':'", where libyaml says "did not find expected ',' or '}'").
    """
    if _FastLoader is not None:
        try:
            return yaml.compose(text, Loader=_FastLoader), yaml.load(text, Loader=_FastLoader)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=_Loader), yaml.load(text, Loader=_Loader)


def format_loc(loc: Sequence[str | int]) -> str:
    """Return a dotted key path: ``milestones[2].due``, ``sources.jira.token``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass
class YamlDocument:
    """One parsed YAML file: its data, its node tree and the name errors show."""

    display: str
    data: Any
    root: yaml.Node | None

    def locate(self, loc: Sequence[str | int]) -> tuple[int | None, str]:
        """Return the 1-based line and the key path for a pydantic ``loc``.

        Parts of ``loc`` that are not keys in the file (pydantic's union and
        validator tags) are skipped; a last part that is not in the file (a
        missing key) is kept in the path and located at its parent.
        """
        node = self.root
        line = None if node is None else node.start_mark.line + 1
        path: list[str | int] = []
        for position, part in enumerate(loc):
            last = position == len(loc) - 1
            child, key_line = _child(node, part)
            if child is not None:
                # Mapping keys print as keys even when numeric (annual_budgets.2025).
                path.append(str(part) if isinstance(node, yaml.MappingNode) else part)
                node = child
                line = key_line
            elif last and part != "[key]":
                path.append(str(part) if isinstance(node, yaml.MappingNode) else part)
        return line, format_loc(path)

    def problem(self, loc: Sequence[str | int], message: str) -> ConfigProblem:
        """Return a ``ConfigProblem`` located at ``loc`` in this file."""
        line, key = self.locate(loc)
        return ConfigProblem(self.display, message, line, key or None)


def _child(node: yaml.Node | None, part: str | int) -> tuple[yaml.Node | None, int | None]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                # The key's own line: for a nested mapping, that is where it is named.
                return value, key.start_mark.line + 1
    elif (
        isinstance(node, yaml.SequenceNode)
        and isinstance(part, int)
        and 0 <= part < len(node.value)
    ):
        item = node.value[part]
        return item, item.start_mark.line + 1
    return None, None


def _duplicate_keys(node: yaml.Node | None, loc: Loc, found: list[tuple[Loc, int, str]]) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                line = key.start_mark.line + 1
                if key.value in seen:
                    found.append(
                        (
                            (*loc, key.value),
                            line,
                            f"duplicate key (first defined at line {seen[key.value]})",
                        )
                    )
                seen.setdefault(key.value, line)
                _duplicate_keys(value, (*loc, key.value), found)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _duplicate_keys(item, (*loc, index), found)


def read_yaml(path: Path, display: str) -> tuple[YamlDocument | None, list[ConfigProblem]]:
    """Parse ``path``; return the document or the problems (syntax, encoding, duplicates)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        return None, [ConfigProblem(display, f"cannot be read: {err.strerror}")]
    except UnicodeDecodeError as err:
        return None, [ConfigProblem(display, f"is not UTF-8 text: {err.reason}")]
    try:
        root, data = _parse(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        message = " ".join(str(p) for p in (err.context, err.problem) if p)
        line = None if mark is None else mark.line + 1
        return None, [ConfigProblem(display, f"YAML syntax error: {message}", line)]
    except yaml.YAMLError as err:
        return None, [ConfigProblem(display, f"YAML error: {err}")]
    duplicates: list[tuple[Loc, int, str]] = []
    _duplicate_keys(root, (), duplicates)
    problems = [ConfigProblem(display, msg, line, format_loc(loc)) for loc, line, msg in duplicates]
    return YamlDocument(display, {} if data is None else data, root), problems
