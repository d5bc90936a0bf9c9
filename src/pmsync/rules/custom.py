"""Custom rules: CEL expressions an admin writes in ``rules.yaml``, safe by construction.

Expressions are Google's Common Expression Language, evaluated by
``cel-python``'s interpreter (never its transpiler, which would ``exec``
generated Python): no statements, no loops beyond bounded macros, no
attribute access on Python objects, no imports; names resolve only to the
three documented scopes, whose values are plain maps of numbers, text and
flags (even CEL's protobuf type names are removed). So nothing an admin writes
can run Python code or reach the process.
(``matches`` uses RE2: no catastrophic backtracking either.) One extension to
standard CEL: an integer meets a double as a double, so ``project.blocked_items
== 3`` works although every figure is a double.

Every expression is checked while ``rules.yaml`` is validated: its syntax,
every ``scope.field`` against ``fields.FIELDS``, and a dry run on sample
values of the right types, which catches type mismatches (``project.key <
1.0``) and results that are not true or false. Errors become ``file:line``
problems through the config loader. The summary is a ``str.format``-style
template restricted to ``{scope.field}`` with an optional format spec
(``{milestone.scope_growth_pct:.0f}``), rendered without attribute access.

The scope of a rule is the most specific one it reads: an expression naming
``milestone.*`` is evaluated for every milestone (with ``project.*`` at hand),
``deliverable.*`` for every WBS node, otherwise once per project.
"""

from __future__ import annotations

import difflib
import re
import string
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import celpy
from celpy import celtypes, evaluation

from pmsync.rules.fields import FIELDS, SCOPES

_LOCK = threading.Lock()
_FIELD_REF = re.compile(r"^(project|milestone|deliverable)\.([a-z_][a-z0-9_]*)$")
_SAMPLE = {"number": 1.0, "text": "x", "date": "2026-01-01", "flag": True}
_CEL_TYPES = {
    "DoubleType": "number",
    "IntType": "integer",
    "UintType": "integer",
    "StringType": "text",
    "BoolType": "bool",
    "NoneType": "null",
    "ListType": "list",
    "MapType": "map",
}


class ExpressionError(ValueError):
    """A custom rule's expression or summary cannot be used; the message says why."""


@dataclass(frozen=True)
class CompiledRule:
    """A checked expression, ready to evaluate."""

    text: str
    scope: str
    """``project``, ``milestone`` or ``deliverable``: what it is evaluated for."""
    references: tuple[tuple[str, str], ...]
    """The ``(scope, field)`` pairs it reads, in order of appearance."""
    program: Any


def _promote(a: Any, b: Any) -> tuple[Any, Any]:
    if isinstance(a, celtypes.IntType) and isinstance(b, celtypes.DoubleType):
        return celtypes.DoubleType(a), b
    if isinstance(b, celtypes.IntType) and isinstance(a, celtypes.DoubleType):
        return a, celtypes.DoubleType(b)
    return a, b


def _numeric(operator: Any) -> Any:
    def mixed(a: Any, b: Any) -> Any:
        return operator(*_promote(a, b))

    return mixed


_OPERATORS = {
    name: _numeric(evaluation.base_functions[name])
    for name in ("_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_", "_+_", "_-_", "_*_", "_/_")
}
"""CEL's own operators, with an integer promoted to double when it meets one."""


@lru_cache(maxsize=1)
def _environment() -> celpy.Environment:
    env = celpy.Environment()  # the interpreter; never CompiledRunner (it uses exec)
    env.annotations.clear()  # no protobuf type names: only project, milestone, deliverable
    return env


def _references(tree: Any) -> Iterator[tuple[str, str]]:
    """Yield ``(scope, field)`` for each ``scope.field`` in a parsed expression."""
    for node in tree.iter_subtrees_topdown():
        if node.data != "member_dot" or len(node.children) != 2:
            continue
        inner, name = node.children
        path = [inner]
        for expected in ("member", "primary"):
            if getattr(path[-1], "data", None) != expected:
                break
            path.append(path[-1].children[0])
        ident = path[-1]
        if getattr(ident, "data", None) == "ident" and str(ident.children[0]) in SCOPES:
            yield str(ident.children[0]), str(name)


def unknown_field(scope: str, name: str) -> str:
    """Return the message for an unknown field, with the closest known one."""
    close = difflib.get_close_matches(name, FIELDS[scope], n=1, cutoff=0.6)
    hint = f"; did you mean {scope}.{close[0]}?" if close else ""
    return f"unknown field {scope}.{name}{hint} (known: {', '.join(sorted(FIELDS[scope]))})"


def _scope_of(references: tuple[tuple[str, str], ...]) -> str:
    used = {scope for scope, _ in references}
    if {"milestone", "deliverable"} <= used:
        raise ExpressionError("a rule reads milestone.* or deliverable.* fields, not both")
    return (
        "deliverable"
        if "deliverable" in used
        else "milestone"
        if "milestone" in used
        else "project"
    )


def _cel_value(value: Any) -> Any:
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int | float):
        return celtypes.DoubleType(float(value))
    return celtypes.StringType(str(value))


def activation(values: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Return the CEL variables for ``{scope: {field: value}}``."""
    return {
        scope: celtypes.MapType({celtypes.StringType(k): _cel_value(v) for k, v in fields.items()})
        for scope, fields in values.items()
    }


def _words(message: str) -> str:
    for name, word in _CEL_TYPES.items():
        message = re.sub(rf"<class 'celpy\.celtypes\.{name}'>", word, message)
    return message


def explain(err: object) -> str:
    """Return what went wrong in a CEL evaluation, in one line an admin understands."""
    if not isinstance(err, Exception):
        kind = _CEL_TYPES.get(type(err).__name__, type(err).__name__)
        return f"the expression gave a {kind}, not true or false"
    args = err.args
    message = str(args[0]) if args else str(err)
    cause = args[1] if len(args) > 1 else None
    if cause is KeyError and message.startswith("undeclared reference"):
        name = args[2][0] if len(args) > 2 and args[2] else "?"
        return f"unknown name {name!r} (use project.*, milestone.* or deliverable.*)"
    if cause is TypeError and "no matching overload" in message:
        types = re.findall(r"<class 'celpy\.celtypes\.(\w+)'>", message)
        shown = " and ".join(_CEL_TYPES.get(t, t) for t in types) or "these values"
        return f"an operator cannot take {shown}"
    return _words(message.split(" (in activation")[0])


def compile_rule(text: str) -> CompiledRule:
    """Parse and check an expression; raise ``ExpressionError`` saying what is wrong."""
    env = _environment()
    with _LOCK:
        try:
            tree = env.compile(text)
        except celpy.CELParseError as err:
            column = getattr(err, "column", None)
            where = f" at column {column}" if column else ""
            hint = (
                " (CEL writes &&, || and ! for and, or, not)"
                if re.search(r"\b(and|or|not)\b", text)
                else ""
            )
            raise ExpressionError(f"not a valid CEL expression{where}: {text!r}{hint}") from err
    references = tuple(dict.fromkeys(_references(tree)))
    for scope, name in references:
        if name not in FIELDS[scope]:
            raise ExpressionError(unknown_field(scope, name))
    scope = _scope_of(references)
    program = env.program(tree, functions=_OPERATORS)
    result = _dry_run(program, scope)
    if not isinstance(result, celtypes.BoolType):
        kind = _CEL_TYPES.get(type(result).__name__, type(result).__name__)
        raise ExpressionError(f"the expression must be true or false; it gives a {kind}")
    return CompiledRule(text, scope, references, program)


def _sample(scope: str) -> dict[str, dict[str, Any]]:
    wanted = ("project",) if scope == "project" else ("project", scope)
    return {s: {name: _SAMPLE[kind] for name, (kind, _) in FIELDS[s].items()} for s in wanted}


def _dry_run(program: Any, scope: str) -> Any:
    try:
        result = program.evaluate(activation(_sample(scope)))
    except celpy.CELEvalError as err:
        if len(err.args) > 1 and err.args[1] is ZeroDivisionError:
            return celtypes.BoolType(False)  # sample values may divide by zero; real ones may not
        raise ExpressionError(explain(err)) from err
    if isinstance(result, celpy.CELEvalError):
        raise ExpressionError(explain(result))
    return result


def check_expression(text: str) -> None:
    """Raise ``ExpressionError`` (a ``ValueError``) if ``text`` is not a usable rule."""
    compile_rule(text)


def summary_fields(template: str) -> list[tuple[str, str, str]]:
    """Return ``(scope, field, format spec)`` for each placeholder; refuse anything else."""
    found = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:
        raise ExpressionError(f"summary: {err} (write {{{{ and }}}} for literal braces)") from err
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        match = _FIELD_REF.match(name)
        if match is None or conversion or "{" in (spec or ""):
            raise ExpressionError(
                f"summary: {{{name}}} is not a field; write {{project.key}}, "
                "{milestone.name}, {deliverable.code:.0f} ..."
            )
        scope, field = match.groups()
        if field not in FIELDS[scope]:
            raise ExpressionError(f"summary: {unknown_field(scope, field)}")
        found.append((scope, field, spec or ""))
    return found


def render_summary(template: str, values: Mapping[str, Mapping[str, Any]]) -> str:
    """Return the summary with its fields filled in (``n/a`` where a field is undefined)."""
    out: list[str] = []
    for literal, name, spec, _ in string.Formatter().parse(template):
        out.append(literal)
        if name is None:
            continue
        scope, field = name.split(".", 1)
        value = values.get(scope, {}).get(field)
        if value is None:
            out.append("n/a")
            continue
        try:
            out.append(format(value, spec or ""))
        except (TypeError, ValueError):
            out.append(str(value))
    return "".join(out)


def check_summary(template: str, expression: str) -> None:
    """Raise ``ExpressionError`` if the summary names fields its rule cannot fill."""
    fields = summary_fields(template)
    try:
        scope = compile_rule(expression).scope
    except ExpressionError:
        return  # reported on the expression itself
    allowed = {"project", scope}
    for used, field, spec in fields:
        if used not in allowed:
            raise ExpressionError(
                f"summary: {used}.{field} is not available to a rule about a {scope} "
                f"(the expression reads no {used}.* field)"
            )
        kind = FIELDS[used][field][0]
        try:
            format(_SAMPLE[kind], spec)
        except (TypeError, ValueError) as err:
            raise ExpressionError(f"summary: {{{used}.{field}:{spec}}}: {err}") from err
