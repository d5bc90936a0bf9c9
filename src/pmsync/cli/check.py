"""``pmsync check`` and ``pmsync rules list | test``: the rules engine on the command line.

``check`` is the daemon's check job run once: refresh the plan (as every sync
does), evaluate every rule, hand the
complete set of findings to alerting (which updates the alerts and writes
the outbox in one transaction) and deliver what is due; exit 1 when a channel
failed. ``rules test`` shows what would fire for one project and why, and
sends nothing: it never touches the alerts. ``rules list`` is the catalogue
of built-in rules with the thresholds in force.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from pmsync.cli._common import EXIT_FAILED, console, fail, load, open_store, print_json

rules_app = typer.Typer(help="The rules: the catalogue, and what would fire.", no_args_is_help=True)


def check(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Evaluate the rules, update the alerts, send the notifications that are due."""
    from pmsync.alerts import run_check
    from pmsync.connectors import utc_now
    from pmsync.plan import refresh_plan
    from pmsync.rules import evaluate_rules

    config = load(ctx)
    store = open_store(config)
    try:
        refresh_plan(store, config, utc_now)  # as the daemon's check does: the plan as it is now
        findings = evaluate_rules(store, config, utc_now)
        report = run_check(store, config, findings, utc_now)
    finally:
        store.close()
    if as_json:
        print_json({"findings": len(findings), **report.as_dict()})
    else:
        _print_check(report, len(findings))
    if not report.ok:
        raise typer.Exit(EXIT_FAILED)


def _print_check(report: Any, findings: int) -> None:
    table = Table(title=f"alerts ({findings} findings now)")
    for column in ("state", "severity", "rule", "project", "subject", "summary", "muted"):
        table.add_column(column)
    for a in report.alerts:
        table.add_row(
            a.state, a.severity, a.rule, a.project or "", a.subject, a.summary, a.muted_by or ""
        )
    console.print(table)
    for t in report.changes.transitions:
        project = t.labels.get("project", "")
        console.print(
            f"{t.before or 'new'} -> {t.after}: {t.rule} {project} {t.summary}",
            markup=False,
            highlight=False,
        )
    dispatch = report.dispatch
    console.print(
        f"notifications: {len(dispatch.sent)} sent, {len(dispatch.retrying)} to retry, "
        f"{len(dispatch.failed)} failed",
        highlight=False,
    )
    for d in [*dispatch.retrying, *dispatch.failed]:
        console.print(f"  {d.receiver}: {d.error}", markup=False, highlight=False)


def _settings_text(settings: Any) -> str:
    data = settings.model_dump()
    enabled = data.pop("enabled", True)
    text = ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in data.items())
    return text if enabled else f"off ({text})"


@rules_app.command("list")
def list_command(
    ctx: typer.Context,
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Thresholds for this project.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List the built-in rules with their thresholds, and the custom rules."""
    from pmsync.rules import BUILTIN_RULES

    config = load(ctx)
    if project is not None and project not in config.projects:
        fail(f"error: unknown project {project!r} (projects: {', '.join(sorted(config.projects))})")
    thresholds = config.rules.for_project(project)
    rows = [
        {
            "rule": rule.name,
            "title": rule.title,
            "subject": rule.subject,
            "reads": rule.inputs,
            "fires when": rule.judge.fires_when,
            "unit": rule.unit,
            "settings": getattr(thresholds, rule.name).model_dump(),
        }
        for rule in BUILTIN_RULES
    ]
    custom = [rule.model_dump() for rule in config.rules.custom]
    if as_json:
        print_json({"project": project, "builtin": rows, "custom": custom})
        return
    table = Table(title=f"built-in rules{f' for {project}' if project else ''}")
    for column in ("rule", "about", "settings", "unit", "reads"):
        table.add_column(column)
    for rule in BUILTIN_RULES:
        table.add_row(
            rule.name,
            rule.subject,
            _settings_text(getattr(thresholds, rule.name)),
            rule.unit,
            rule.inputs,
        )
    console.print(table)
    for entry in config.rules.custom:
        scope = f" (only {', '.join(entry.projects)})" if entry.projects else ""
        console.print(
            f"custom {entry.name} [{entry.severity}]{scope}: {entry.expression}",
            markup=False,
            highlight=False,
        )


@rules_app.command("test")
def test_command(
    ctx: typer.Context,
    project: Annotated[str, typer.Option("--project", "-p", help="The project to test.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Show what would fire for a project and why; send nothing, change no alert."""
    from pmsync.connectors import utc_now
    from pmsync.plan import refresh_plan
    from pmsync.rules import evaluate_projects

    config = load(ctx)
    if project not in config.projects:
        fail(f"error: unknown project {project!r} (projects: {', '.join(sorted(config.projects))})")
    store = open_store(config)
    try:
        refresh_plan(store, config, utc_now)  # idempotent, as ``plan show`` does
        verdict = evaluate_projects(store, config, utc_now, projects=[project])[project]
    finally:
        store.close()
    findings = [
        {
            "rule": f.rule,
            "severity": f.severity,
            "labels": dict(f.labels),
            "summary": f.summary,
            "evidence": f.evidence.as_dict(),
            "action": f.action,
        }
        for f in verdict.findings
    ]
    if as_json:
        print_json(
            {
                "project": project,
                "status_date": verdict.facts.today.isoformat(),
                "findings": findings,
                "notes": list(verdict.notes),
                "skipped": verdict.skipped,
            }
        )
        return
    _print_test(project, verdict, findings)


def _print_test(project: str, verdict: Any, findings: list[dict[str, Any]]) -> None:
    say = console.print
    say(f"{project} on {verdict.facts.today}: {len(findings)} rule(s) would fire", highlight=False)
    for f in sorted(findings, key=lambda f: ("critical", "warning", "info").index(f["severity"])):
        say(f"\n{f['severity'].upper()} {f['rule']}: {f['summary']}", markup=False, highlight=False)
        for figure in f["evidence"]["figures"]:
            say(f"  {figure['name']}: {figure['value']}", markup=False, highlight=False)
        for item in f["evidence"]["items"][:10]:
            link = f" <{item['url']}>" if item["url"] else ""
            key = f"{item['key']} " if item["key"] else ""
            detail = f" ({item['detail']})" if item["detail"] else ""
            say(f"  - {key}{item['title']}{detail}{link}", markup=False, highlight=False)
        if f["action"]:
            say(f"  suggested: {f['action']}", markup=False, highlight=False)
    for note in verdict.notes:
        say(f"\nnote: {note}", markup=False, highlight=False)
    for line in verdict.skipped:
        say(f"not evaluated: {line}", markup=False, highlight=False)
    if not findings and not verdict.notes:
        say("nothing would fire: every rule is within its thresholds", highlight=False)
    say("(nothing was sent; alerts are unchanged)", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``check`` and ``rules`` to the ``pmsync`` app."""
    app.command("check")(check)
    app.add_typer(rules_app, name="rules")
