"""A finding: what the rules engine hands to alerting, and all alerting needs to know.

The rules engine decides *that* something is wrong; everything after that (is it
new, has it lasted, who hears about it, how often) is alerting's business and
works only from this contract. A finding's identity is its **fingerprint**: the
hash of its rule and labels, never of its severity, numbers or wording, so a
milestone that slips from 4 to 6 days late stays one alert (updated), and a
warning that becomes critical is an escalation of the same alert.

Labels say what the finding is about. Every finding names its subject with
``subject_kind`` and ``subject_id`` (inhibition compares subjects); the
conventional labels are below. ``rule`` and ``severity`` are not labels, but
matchers see them as if they were (``severity=critical``, ``rule=~milestone_.*``).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}

PROJECT = "project"
SUBJECT_KIND = "subject_kind"
"""``project``, ``milestone``, ``deliverable``, ``person``, ``risk``, ``source``, ``work_item``."""
SUBJECT_ID = "subject_id"
MILESTONE = "milestone"
DELIVERABLE = "deliverable"
PERSON = "person"
SOURCE = "source"
RISK = "risk"
RESERVED_LABELS = frozenset({"rule", "severity"})

_RULE = re.compile(r"^[a-z][a-z0-9_]*$")
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_SUMMARY = 300
Figure = str | int | float


def one_line(text: str, limit: int = MAX_SUMMARY) -> str:
    """Return ``text`` on one line, whitespace collapsed, cut at ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _figure(value: Any) -> Figure:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(
        f"an evidence figure must be a number, text or date, not {type(value).__name__}"
    )


@dataclass(frozen=True)
class EvidenceItem:
    """One item behind a finding, with a link back into the tool it came from."""

    title: str
    url: str | None = None
    key: str | None = None
    """The tool's own name for it: ``PAY-123``, ``acme/pay#12``."""
    detail: str | None = None
    """What about it matters: ``blocked for 9 days``."""

    def as_dict(self) -> dict[str, str | None]:
        """Return the item as JSON-ready data."""
        return {"title": self.title, "url": self.url, "key": self.key, "detail": self.detail}


@dataclass(frozen=True)
class Evidence:
    """The numbers and the items that make a finding true."""

    figures: Mapping[str, Any] = field(default_factory=dict)
    """Named numbers in display order: ``{"forecast finish (P85)": "2025-06-12"}``."""
    items: tuple[EvidenceItem, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Return the evidence as JSON-ready data; figures are a list, to keep their order.

        (PostgreSQL's JSONB would reorder the keys of an object.)
        """
        return {
            "figures": [{"name": str(k), "value": _figure(v)} for k, v in self.figures.items()],
            "items": [item.as_dict() for item in self.items],
        }


def fingerprint(rule: str, labels: Mapping[str, str]) -> str:
    """Return the identity of an alert: SHA-256 of its rule and sorted labels (64 hex)."""
    canonical = json.dumps(
        {"rule": rule, "labels": sorted(labels.items())}, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Finding:
    """Something a rule found wrong right now, about one subject."""

    rule: str
    severity: Severity
    labels: Mapping[str, str]
    summary: str
    """One line a PM understands without opening anything."""
    evidence: Evidence = field(default_factory=Evidence)
    action: str | None = None
    """The suggested action: what the PM could do about it."""
    report_url: str | None = None
    """Where the report explains it; None: ``routing.report_url`` for the project."""

    def __post_init__(self) -> None:
        if not _RULE.match(self.rule):
            raise ValueError(f"rule name {self.rule!r} must match [a-z][a-z0-9_]*")
        if self.severity not in SEVERITY_RANK:
            raise ValueError(f"severity {self.severity!r} is not info, warning or critical")
        for name, value in self.labels.items():
            if not _LABEL.match(name) or name in RESERVED_LABELS:
                raise ValueError(f"{name!r} cannot be a label name")
            if not isinstance(value, str):
                raise ValueError(f"label {name!r} must be text, not {type(value).__name__}")
        for required in (SUBJECT_KIND, SUBJECT_ID):
            if not self.labels.get(required):
                raise ValueError(f"a finding needs the label {required!r} (what it is about)")
        if not self.summary.strip():
            raise ValueError("a finding needs a summary")
        object.__setattr__(self, "labels", dict(sorted(self.labels.items())))
        object.__setattr__(self, "summary", one_line(self.summary))

    @property
    def fingerprint(self) -> str:
        """Return the fingerprint of the rule and labels."""
        return fingerprint(self.rule, self.labels)

    @property
    def match_labels(self) -> dict[str, str]:
        """Return the labels matchers see: the labels plus ``rule`` and ``severity``."""
        return {**self.labels, "rule": self.rule, "severity": self.severity}
