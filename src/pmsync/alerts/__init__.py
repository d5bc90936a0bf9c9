"""Alerting: from the rules engine's findings to messages people act on.

The public surface is re-exported here; the modules behind it are::

    findings.py   Finding, Evidence: the contract with the rules engine
    matchers.py   label=value, !=, =~, !~ (routes, inhibition, silences, CLI)
    routing.py    the route tree, groups, inhibition rules of ``routing:``
    lifecycle.py  evaluate_alerts: pending → firing → resolved, mutes, one transaction
    grouping.py   aggregation groups and the notification log (group_wait, ...)
    silences.py   silences and inhibition
    outbox.py     dispatch_notifications: claim, send, retry with backoff
    channels/     e-mail, Slack, Teams, signed webhook
    templates.py  Jinja2 templates and per-channel escaping; context.py their variables
    views.py      list_alerts;  check.py  run_check (evaluate + dispatch)

See docs/alerts.md for routing, grouping, silences, channels and templates.
"""

from pmsync.alerts.check import CheckReport, run_check
from pmsync.alerts.context import check_templates
from pmsync.alerts.findings import Evidence, EvidenceItem, Finding, Severity, fingerprint
from pmsync.alerts.lifecycle import AlertChanges, Transition, evaluate_alerts
from pmsync.alerts.matchers import Matcher, MatcherError, parse_matcher
from pmsync.alerts.outbox import Delivery, DispatchReport, dispatch_notifications
from pmsync.alerts.silences import SilenceInfo, add_silence, expire_silence, list_silences
from pmsync.alerts.views import AlertInfo, list_alerts

__all__ = [
    "AlertChanges",
    "AlertInfo",
    "CheckReport",
    "Delivery",
    "DispatchReport",
    "Evidence",
    "EvidenceItem",
    "Finding",
    "Matcher",
    "MatcherError",
    "Severity",
    "SilenceInfo",
    "Transition",
    "add_silence",
    "check_templates",
    "dispatch_notifications",
    "evaluate_alerts",
    "expire_silence",
    "fingerprint",
    "list_alerts",
    "list_silences",
    "parse_matcher",
    "run_check",
]
