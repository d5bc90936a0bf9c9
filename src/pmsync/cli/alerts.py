"""``pmsync alerts list | silence | unsilence | silences``: looking at and muting alerts.

Thin shells over ``pmsync.alerts``; ``pmsync check`` (evaluate the rules, then
``run_check``) arrives with the rules engine.
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.table import Table

from pmsync.cli._common import console, fail, load, open_store, print_json

alerts_app = typer.Typer(help="List alerts; silence and unsilence them.", no_args_is_help=True)
STATE_CHOICES = ("pending", "firing", "resolved", "inactive", "all")


def _states(values: list[str] | None) -> tuple[str, ...]:
    chosen = tuple(values or ("pending", "firing"))
    unknown = [v for v in chosen if v not in STATE_CHOICES]
    if unknown:
        fail(f"error: unknown state {unknown[0]!r} (choose from {', '.join(STATE_CHOICES)})")
    return ("pending", "firing", "resolved", "inactive") if "all" in chosen else chosen


@alerts_app.command("list")
def list_command(
    ctx: typer.Context,
    state: Annotated[
        list[str] | None,
        typer.Option(
            "--state", "-s", help="pending, firing, resolved, inactive or all (repeatable)."
        ),
    ] = None,
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Only this project.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List alerts (pending and firing unless --state says otherwise)."""
    from pmsync.alerts import list_alerts

    states = _states(state)
    store = open_store(load(ctx))
    try:
        alerts = list_alerts(store, states=states, project=project)
    finally:
        store.close()
    if as_json:
        print_json([a.as_dict() for a in alerts])
        return
    table = Table(title=f"alerts ({', '.join(states)})")
    for column in (
        "id",
        "state",
        "severity",
        "rule",
        "project",
        "subject",
        "summary",
        "since",
        "muted",
    ):
        table.add_column(column)
    for a in alerts:
        since = a.resolved_at if a.state == "resolved" else a.starts_at or a.pending_since
        table.add_row(
            str(a.id),
            a.state,
            a.severity,
            a.rule,
            a.project or "",
            a.subject,
            a.summary,
            since.strftime("%Y-%m-%d %H:%M") if since else "",
            a.muted_by or "",
        )
    console.print(table)


@alerts_app.command("silence")
def silence_command(
    ctx: typer.Context,
    match: Annotated[
        list[str],
        typer.Option(
            "--match",
            "-m",
            help="label=value, label!=value, label=~regex or label!~regex (repeatable).",
        ),
    ],
    duration: Annotated[str, typer.Option("--for", help="How long: 30m, 2h, 3d, 1w.")],
    comment: Annotated[str, typer.Option("--comment", help="Why (shown with the silence).")],
    author: Annotated[
        str | None, typer.Option("--author", help="Who (default: your login).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Mute the alerts that match, from now on, for a while."""
    from pmsync.alerts import add_silence, list_alerts
    from pmsync.alerts.matchers import MatcherError, matches_all, parse_matchers
    from pmsync.config import parse_duration
    from pmsync.connectors import utc_now

    try:
        matchers = parse_matchers(match)
        length = parse_duration(duration)
    except (MatcherError, ValueError) as err:
        fail(f"error: {err}")
    store = open_store(load(ctx))
    try:
        try:
            silence = add_silence(
                store, match, length, comment, author or getpass.getuser(), utc_now
            )
        except ValueError as err:
            fail(f"error: {err}")
        alerts = list_alerts(store)
    finally:
        store.close()
    muted = [
        a
        for a in alerts
        if matches_all(matchers, {**a.labels, "rule": a.rule, "severity": a.severity})
    ]
    if as_json:
        print_json({**silence.as_dict(), "matching": [a.as_dict() for a in muted]})
        return
    console.print(
        f"silence {silence.id}: {', '.join(silence.matchers)} until "
        f"{silence.ends_at:%Y-%m-%d %H:%M} UTC ({len(muted)} open alert(s) match now)",
        markup=False,
    )
    for a in muted:
        console.print(f"  {a.severity} {a.rule}: {a.summary}", markup=False)


@alerts_app.command("unsilence")
def unsilence_command(
    ctx: typer.Context,
    silence_id: Annotated[
        int, typer.Argument(help="The silence's id (see pmsync alerts silences).")
    ],
) -> None:
    """End a silence now."""
    from pmsync.alerts import expire_silence
    from pmsync.connectors import utc_now

    store = open_store(load(ctx))
    try:
        silence = expire_silence(store, silence_id, utc_now)
    except KeyError as err:
        fail(f"error: {err.args[0]}")
    finally:
        store.close()
    console.print(f"silence {silence.id} ended ({', '.join(silence.matchers)})", markup=False)


@alerts_app.command("silences")
def silences_command(
    ctx: typer.Context,
    include_expired: Annotated[bool, typer.Option("--all", help="Expired ones too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List active and upcoming silences."""
    from pmsync.alerts import list_silences
    from pmsync.connectors import utc_now

    store = open_store(load(ctx))
    try:
        found = list_silences(store, utc_now, include_expired=include_expired)
    finally:
        store.close()
    if as_json:
        print_json([s.as_dict() for s in found])
        return
    table = Table(title="silences")
    for column in ("id", "matchers", "from", "until", "by", "comment", "active"):
        table.add_column(column)
    for s in found:
        table.add_row(
            str(s.id),
            ", ".join(s.matchers),
            f"{s.starts_at:%Y-%m-%d %H:%M}",
            f"{s.ends_at:%Y-%m-%d %H:%M}",
            s.created_by,
            s.comment,
            "yes" if s.active else "no",
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``pmsync alerts`` to ``app``."""
    app.add_typer(alerts_app, name="alerts")
