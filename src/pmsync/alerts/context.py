"""What a template sees: the outbox payload, arranged for people to read.

The payload is a snapshot taken when the evaluation decided to notify; the
context adds what every template needs and should not compute itself: the
alerts split into firing and resolved, counts by severity, an icon, the subject
in words (``milestone Beta launch``), the evidence as ordered figures and items.

Variables (documented in docs/alerts.md)::

    status       "firing" or "resolved"        receiver, project, report_url
    title        the one-line title (title.txt.j2), e.g. for a heading
    firing       alerts that fire, critical first
    resolved     alerts that resolved since the last message
    counts       {"critical": n, "warning": n, "info": n} of the firing alerts
    group_labels the labels that make this group (e.g. {"project": "PAY"})

    each alert:  rule, rule_title, severity, icon, subject, summary, labels,
                 figures [(name, value)], items [{title, url, key, detail}],
                 action, report_url, starts_at, resolved_at, fingerprint, status
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import jinja2

from pmsync.alerts.templates import SEVERITY_ICON, TEMPLATES, Templates, flat

SUBJECT_WORDS = {"work_item": "work item"}


def subject_of(labels: Mapping[str, str]) -> str:
    """Return what an alert is about in words: ``milestone Beta launch``, ``project PAY``."""
    kind = labels.get("subject_kind", "")
    ident = labels.get("subject_id", "")
    shown = labels.get(kind, ident) if kind in labels else ident
    return f"{SUBJECT_WORDS.get(kind, kind)} {shown}".strip()


def _alert(alert: Mapping[str, Any]) -> SimpleNamespace:
    # A namespace, not a dict: in Jinja, ``a.items`` on a dict would be its method.
    evidence = alert.get("evidence") or {}
    return SimpleNamespace(
        **{
            **alert,
            "rule_title": alert["rule"].replace("_", " "),
            "icon": SEVERITY_ICON.get(alert["severity"], ""),
            "subject": subject_of(alert["labels"]),
            "figures": [(f["name"], f["value"]) for f in evidence.get("figures") or []],
            "items": [SimpleNamespace(**item) for item in evidence.get("items") or []],
        }
    )


def message_context(payload: Mapping[str, Any], templates: Templates) -> dict[str, Any]:
    """Return the template context of an outbox payload, ``title`` included."""
    alerts = [_alert(a) for a in payload["alerts"]]
    firing = [a for a in alerts if a.status == "firing"]
    context: dict[str, Any] = {
        "status": payload["status"],
        "receiver": payload["receiver"],
        "project": payload.get("project"),
        "report_url": payload.get("report_url"),
        "group_labels": payload["group"]["labels"],
        "firing": firing,
        "resolved": [a for a in alerts if a.status == "resolved"],
        "counts": {s: sum(1 for a in firing if a.severity == s) for s in SEVERITY_ICON},
    }
    context["title"] = flat(templates.render("title", context))
    return context


SAMPLE_PAYLOAD: dict[str, Any] = {
    "status": "firing",
    "receiver": "example",
    "project": "PAY",
    "report_url": "https://reports.example/PAY/",
    "group": {"key": "0" * 64, "labels": {"project": "PAY"}},
    "alerts": [
        {
            "status": status,
            "fingerprint": str(n) * 64,
            "rule": "milestone_slip",
            "severity": "warning",
            "labels": {"project": "PAY", "subject_kind": "milestone", "subject_id": "Beta"},
            "summary": "Milestone Beta forecast 12 days late",
            "evidence": {
                "figures": [{"name": "days late", "value": 12}],
                "items": [
                    {
                        "title": "Gateway",
                        "url": "https://jira.example/browse/PAY-7",
                        "key": "PAY-7",
                        "detail": "open",
                    }
                ],
            },
            "action": "Agree a new date",
            "report_url": None,
            "starts_at": "2025-03-03T09:00:00+00:00",
            "resolved_at": "2025-03-04T09:00:00+00:00" if status == "resolved" else None,
        }
        for n, status in enumerate(("firing", "resolved"))
    ],
}


def check_templates(templates: Templates) -> list[str]:
    """Render every template with a sample message; return one line per problem."""
    problems: list[str] = []
    for name, (filename, _) in TEMPLATES.items():
        try:
            templates.render(name, message_context(SAMPLE_PAYLOAD, templates))
        except jinja2.TemplateSyntaxError as err:
            problems.append(f"{err.filename or filename}:{err.lineno}: {err.message}")
        except Exception as err:  # an undefined name, a bad filter: point at the template line
            frames = [
                f for f in traceback.extract_tb(err.__traceback__) if f.filename.endswith(".j2")
            ]
            where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else filename
            problems.append(f"{where}: {type(err).__name__}: {err}")
    return list(dict.fromkeys(problems))
