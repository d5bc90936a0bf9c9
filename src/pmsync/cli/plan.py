"""``pmsync baseline set|show``, ``pmsync plan show|refresh``: the plan and where it stands.

Thin shells over ``pmsync.plan``: each command first refreshes the plan (the
same idempotent ``refresh_plan`` the sync runs), so what it shows or
snapshots is the project file as it is now, linked to the synced records.
Text from the tools (titles, names) is printed as text, never as markup.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from pmsync.cli._common import EXIT_USAGE, console, err_console, fail, load, open_store, print_json

if TYPE_CHECKING:
    from pmsync.config import Config
    from pmsync.plan.progress import Progress
    from pmsync.plan.view import ProjectPlanView
    from pmsync.store import Store

baseline_app = typer.Typer(help="Approve the plan as a baseline; list baselines and variance.")
plan_app = typer.Typer(help="The plan of a project: WBS roll-up, milestones, cost, progress.")

ProjectOption = Annotated[str, typer.Option("--project", "-p", help="The project key.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print as JSON.")]


def _refreshed(config: Config, project: str | None) -> Store:
    from pmsync.plan.refresh import refresh_plan

    if project is not None and project not in config.projects:
        known = ", ".join(sorted(config.projects)) or "none"
        fail(f"error: no project {project!r} in the configuration (projects: {known})", EXIT_USAGE)
    store = open_store(config)
    result = refresh_plan(store, config)
    for warning in result.warnings:
        err_console.print(f"warning: {warning}", markup=False, highlight=False)
    return store


@baseline_app.command("set")
def baseline_set(
    ctx: typer.Context,
    project: ProjectOption,
    note: Annotated[str | None, typer.Option(help="Why this plan was approved.")] = None,
    by: Annotated[str | None, typer.Option(help="Who approved it.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Approve the project's current plan as a new baseline (approves pending changes)."""
    from pmsync.plan.baselines import set_baseline

    config = load(ctx)
    store = _refreshed(config, project)
    try:
        info = set_baseline(store, project, note=note, approved_by=by)
    finally:
        store.close()
    if as_json:
        print_json(_baseline_json(info))
        return
    console.print(
        f"{project}: baseline v{info.version} approved at {info.approved_at:%Y-%m-%d %H:%M} UTC "
        f"({info.approved_changes} plan changes approved)",
        markup=False,
        highlight=False,
    )


def _baseline_json(info: Any) -> dict[str, Any]:
    return {
        "project": info.project,
        "version": info.version,
        "approved_at": info.approved_at.isoformat(),
        "approved_by": info.approved_by,
        "note": info.note,
        "budget": None if info.budget is None else f"{info.budget:.2f}",
        "finish": info.finish.isoformat() if info.finish else None,
        "milestones": info.milestones,
        "approved_changes": info.approved_changes,
    }


@baseline_app.command("show")
def baseline_show(
    ctx: typer.Context,
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Only this project.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List the baselines; with --project, also the variance against the latest one."""
    from pmsync.plan.baselines import list_baselines, plan_variance

    config = load(ctx)
    store = _refreshed(config, project)
    try:
        baselines = list_baselines(store, project)
        variance = None
        if project is not None:
            with store.engine.connect() as conn:
                variance = plan_variance(conn, project)
    finally:
        store.close()
    if as_json:
        payload: dict[str, Any] = {"baselines": [_baseline_json(b) for b in baselines]}
        if variance is not None:
            payload["variance"] = _variance_json(variance)
        print_json(payload)
        return
    table = Table(title="baselines")
    for column in ("project", "version", "approved", "by", "budget", "finish", "note"):
        table.add_column(column)
    for b in baselines:
        table.add_row(
            b.project,
            f"v{b.version}",
            f"{b.approved_at:%Y-%m-%d %H:%M}",
            Text(b.approved_by or ""),
            "" if b.budget is None else f"{b.budget:,.2f}",
            b.finish.isoformat() if b.finish else "",
            Text(b.note or ""),
        )
    console.print(table)
    if variance is not None:
        _print_variance(variance)


def _variance_json(variance: Any) -> dict[str, Any]:
    def day(value: Any) -> Any:
        return value.isoformat() if value is not None else None

    return {
        "baseline_version": variance.baseline.version if variance.baseline else None,
        "budget": None if variance.budget is None else f"{variance.budget:.2f}",
        "baseline_budget": None
        if variance.baseline_budget is None
        else f"{variance.baseline_budget:.2f}",
        "milestones": [
            {
                "name": m.name,
                "origin": m.origin,
                "in_baseline": m.in_baseline,
                "baseline_due": day(m.baseline_due),
                "due": day(m.due),
                "tool_due": day(m.tool_due),
                "due_shift_days": m.due_shift_days,
                "tool_shift_days": m.tool_shift_days,
                "slip_days": m.slip_days,
                "baseline_scope_items": m.baseline_scope_items,
                "scope_items": m.scope_items,
                "scope_growth_pct": m.scope_growth_pct,
            }
            for m in variance.milestones
        ],
        "removed_milestones": list(variance.removed_milestones),
        "unapproved_changes": [
            {
                "detected_at": c.detected_at.isoformat(),
                "subject": c.subject,
                "field": c.field,
                "from": c.from_value,
                "to": c.to_value,
            }
            for c in variance.unapproved_changes
        ],
    }


def _print_variance(variance: Any) -> None:
    if variance.baseline is None:
        console.print(f"{variance.project}: no baseline yet", markup=False)
        return
    table = Table(title=f"{variance.project} against baseline v{variance.baseline.version}")
    for column in ("milestone", "baseline due", "due", "tools' due", "slip (days)", "items"):
        table.add_column(column)
    for m in variance.milestones:
        table.add_row(
            Text(m.name),
            m.baseline_due.isoformat() if m.baseline_due else "(new)",
            m.due.isoformat() if m.due else "",
            m.tool_due.isoformat() if m.tool_due else "",
            "" if m.slip_days is None else f"{m.slip_days:+d}",
            f"{m.baseline_scope_items} -> {m.scope_items}"
            if m.baseline_scope_items is not None
            else str(m.scope_items or ""),
        )
    console.print(table)
    if variance.unapproved_changes:
        changes = Table(title="plan changes not yet approved")
        for column in ("detected", "what", "field", "from", "to"):
            changes.add_column(column)
        for c in variance.unapproved_changes:
            changes.add_row(
                f"{c.detected_at:%Y-%m-%d %H:%M}",
                Text(c.subject),
                c.field,
                Text(c.from_value or ""),
                Text(c.to_value or ""),
            )
        console.print(changes)


def _percent(progress: Progress) -> str:
    value = progress.percent_complete
    return "" if value is None else f"{100 * value:.0f}%"


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:,.2f}"


@plan_app.command("refresh")
def plan_refresh(
    ctx: typer.Context,
    relink: Annotated[
        bool,
        typer.Option(
            "--relink",
            help="Place every work item again, not only those synced since the last refresh.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Refresh the plan now, as every sync does, and say what it found and changed."""
    from pmsync.plan.refresh import refresh_plan

    config = load(ctx)
    store = open_store(config)
    try:
        result = refresh_plan(store, config, relink=relink)
    finally:
        store.close()
    if as_json:
        print_json(result.as_dict())
        return
    for warning in result.warnings:
        err_console.print(f"warning: {warning}", markup=False, highlight=False)
    table = Table(title="plan refresh", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for name, value in result.as_dict().items():
        if name not in ("warnings", "changed"):
            table.add_row(name.replace("_", " "), f"{value:,}")
    console.print(table)
    console.print("changed something" if result.changed else "nothing to change")


@plan_app.command("show")
def plan_show(ctx: typer.Context, project: ProjectOption, as_json: JsonOption = False) -> None:
    """Show the WBS roll-up (planned and actual cost, progress) and the milestones."""
    from pmsync.plan.view import project_plan

    config = load(ctx)
    store = _refreshed(config, project)
    try:
        with store.engine.connect() as conn:
            view = project_plan(conn, config, project)
    finally:
        store.close()
    if as_json:
        print_json(view.as_dict())
        return
    print_plan(view)


def print_plan(view: ProjectPlanView) -> None:
    """Print a project's plan as tables; every text from config or tools stays literal."""
    head = Text(f"{view.key}: ")
    head.append(view.name)
    head.append(
        f" ({view.start} to {view.finish}, budget {_money(view.budget)} {view.currency}, "
        f"baseline {'v' + str(view.baseline_version) if view.baseline_version else 'none'}, "
        f"progress by {view.progress_by})"
    )
    console.print(head)
    wbs = Table(title="work breakdown structure")
    for column in ("code", "deliverable", "owner", "start", "finish", "planned", "actual"):
        wbs.add_column(column, justify="right" if column in ("planned", "actual") else "left")
    for column in ("done", "items", "points"):
        wbs.add_column(column, justify="right")
    for line in (*view.deliverables, view.outside_wbs):
        wbs.add_row(
            line.code,
            Text("  " * line.depth + line.name),
            Text(line.owner or ""),
            line.planned_start.isoformat() if line.planned_start else "",
            line.planned_finish.isoformat() if line.planned_finish else "",
            _money(line.planned_cost),
            _money(line.actual_cost),
            _percent(line.progress),
            f"{line.progress.done_items}/{line.progress.items}",
            f"{line.progress.done_points:g}/{line.progress.points:g}",
        )
    console.print(wbs)
    milestones = Table(title="milestones (combined scope from every tool)")
    for column in ("milestone", "due", "tools' due", "baseline", "slip", "done", "items"):
        milestones.add_column(column)
    milestones.add_column("points", justify="right")
    milestones.add_column("per tool")
    milestones.add_column("fed by")
    for m in view.milestones:
        name = Text(m.name)
        if m.origin == "tool":
            name.append(" (only in the tools)")
        milestones.add_row(
            name,
            m.due.isoformat() if m.due else "",
            m.tool_due.isoformat() if m.tool_due else "",
            m.baseline_due.isoformat() if m.baseline_due else "",
            "" if m.slip_days is None else f"{m.slip_days:+d}",
            _percent(m.progress),
            f"{m.progress.done_items}/{m.progress.items}",
            f"{m.progress.done_points:g}/{m.progress.points:g}",
            Text(", ".join(f"{s}: {p.items}" for s, p in sorted(m.by_source.items()))),
            Text("; ".join(m.fed_by)),
        )
    console.print(milestones)
    summary = Text(
        f"actual cost {_money(view.actual_cost)} {view.currency} "
        f"(labour {_money(view.labour_cost)} for {view.hours:,.1f} h, other "
        f"{_money(view.other_cost)}); progress {_percent(view.progress)}; "
        f"{view.unapproved_changes} plan changes not yet approved"
    )
    console.print(summary)
    if view.unrated_hours:
        unrated = ", ".join(f"{who}: {hours:.1f} h" for who, hours in view.unrated_hours.items())
        err_console.print(Text(f"hours without a rate (not in the cost): {unrated}"))


def register(app: typer.Typer) -> None:
    """Add ``baseline`` and ``plan`` to ``app``."""
    app.add_typer(baseline_app, name="baseline")
    app.add_typer(plan_app, name="plan")
