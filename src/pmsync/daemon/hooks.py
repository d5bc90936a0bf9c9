"""The capabilities the daemon drives but does not own, found lazily by name.

The daemon schedules rule checks, notification dispatch, metric snapshots,
reports and meeting packs, but those are built by other parts of pmsync (the
rules engine, alerting, metrics, reports), which may not be installed yet. So
each is declared here as a *hook*, ``module:function``, imported the first time
a job needs it. A hook that is not there is not an error: its job is skipped
and the daemon says so once ("... not installed: job skipped"), not on every
tick. A hook that exists but fails to import (a bug, a missing dependency) is
logged once with the reason and skipped the same way.

Hooks are called with keyword arguments and receive only the ones they declare
(``store``, ``config``, ``now``, ``findings``, ``limit``, ...), so a hook may
take fewer arguments than the daemon offers. ``now`` is offered as the
injected clock (``Callable[[], datetime]``, the project's convention); a hook
whose ``now`` is annotated ``datetime`` gets the current time instead.
Changing where a capability lives is a one-line change to ``HOOKS``.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("pmsync.daemon")


@dataclass(frozen=True, slots=True)
class Hook:
    """A function of another part of pmsync that a daemon job calls."""

    capability: str
    """What it is, for people: ``rules engine (issue 7)``."""
    module: str
    function: str

    @property
    def target(self) -> str:
        """Return ``module:function``."""
        return f"{self.module}:{self.function}"


HOOKS: Mapping[str, Hook] = {
    "refresh_plan": Hook("plan and linking", "pmsync.plan", "refresh_plan"),
    "evaluate_rules": Hook("rules engine (issue 7)", "pmsync.rules", "evaluate"),
    "run_check": Hook("alerting (issue 7)", "pmsync.alerts", "run_check"),
    "dispatch": Hook("alerting (issue 7)", "pmsync.alerts", "dispatch_notifications"),
    "snapshot": Hook("metrics (issue 6)", "pmsync.health", "take_daily_snapshot"),
    "report": Hook("report delivery (issue 8)", "pmsync.reports.deliver", "send_scheduled_report"),
    "write_reports": Hook("reports (issue 8)", "pmsync.reports.jobs", "generate_reports"),
    "meeting_packs": Hook(
        "meeting packs (issue 8)", "pmsync.reports.deliver", "send_meeting_packs"
    ),
}
"""Every capability the daemon drives, by the name its jobs use."""


class Hooks:
    """Resolve hooks lazily; remember what is missing so it is reported once."""

    def __init__(self, table: Mapping[str, Hook] = HOOKS) -> None:
        self.table = table
        self._found: dict[str, Callable[..., Any]] = {}
        self._missing: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> Callable[..., Any] | None:
        """Return the hook's function, or None (logged once) when it is not available."""
        with self._lock:
            if name in self._found:
                return self._found[name]
            if name in self._missing:
                return None
            hook = self.table[name]
            function, why = _resolve(hook)
            if function is None:
                self._missing[name] = why
                log.info(
                    "%s is not available (%s): its jobs are skipped",
                    hook.capability,
                    why,
                    extra={"event": "capability_missing", "hook": hook.target},
                )
                return None
            self._found[name] = function
            return function

    def missing(self) -> dict[str, str]:
        """Return the hooks found missing so far, with the reason."""
        with self._lock:
            return dict(self._missing)

    def forget_missing(self) -> None:
        """Look again for missing hooks next time (after a reload: something may be installed)."""
        with self._lock:
            self._missing.clear()

    def declares(self, name: str, parameter: str) -> bool:
        """Tell whether hook ``name`` is available and takes ``parameter`` (worth computing)."""
        function = self.get(name)
        if function is None:
            return False
        return parameter in accepted_arguments(function, {parameter: None})

    def call(self, name: str, **offered: Any) -> tuple[bool, Any]:
        """Call hook ``name`` with the offered arguments it declares; return (called, result)."""
        function = self.get(name)
        if function is None:
            return False, None
        return True, function(**accepted_arguments(function, offered))


def accepted_arguments(function: Callable[..., Any], offered: Mapping[str, Any]) -> dict[str, Any]:
    """Return the subset of ``offered`` that ``function`` declares (all with ``**kwargs``)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return dict(offered)
    given = dict(offered)
    clock = given.get("now")
    if callable(clock) and "now" in parameters and _wants_instant(parameters["now"]):
        given["now"] = clock()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return given
    return {name: value for name, value in given.items() if name in parameters}


def _wants_instant(parameter: inspect.Parameter) -> bool:
    """Tell whether a ``now`` parameter is annotated as a datetime rather than a clock."""
    annotation = parameter.annotation
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    return text in ("datetime", "datetime.datetime", "datetime | None")


def _resolve(hook: Hook) -> tuple[Callable[..., Any] | None, str]:
    try:
        module = importlib.import_module(hook.module)
    except ModuleNotFoundError as err:
        if err.name is not None and hook.module.startswith(err.name):
            return None, f"{hook.module} is not installed"
        log.error("%s cannot be imported: %s", hook.module, err, exc_info=True)
        return None, f"{hook.module} cannot be imported: {err}"
    except Exception as err:  # a bug in the capability must not stop the daemon
        log.error("%s cannot be imported: %s", hook.module, err, exc_info=True)
        return None, f"{hook.module} cannot be imported: {err}"
    function = getattr(module, hook.function, None)
    if not callable(function):
        return None, f"{hook.module} has no {hook.function}()"
    return function, ""
