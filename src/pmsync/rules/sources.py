"""How fresh each source's data is, and which projects it feeds.

A project is never shown healthy on stale data: when a source has had no
successful sync for too long, every project that reads from it gets an alert
of its own (``source_stale``), and a source whose latest runs fail gets
``sync_failing``. A ``partial`` run (a repository, branch, project or calendar
the source refused was skipped) keeps the source fresh, since the rest of its
data flowed, and counts as failing, with the skipped scope as the error.
Three aggregate queries over ``sync_run`` answer it for every source at once
(the daemon writes a run per stream every few minutes, so the table is read
grouped, never row by row). The sync interval of a source is the one the
reports use (``pmsync.reports.reads.sync_interval``), so a report and an alert
never disagree about what is stale.

A source feeds a project when the project has work items or meetings from it,
or names it in a selector; a source that feeds no project in particular (a
leave calendar, a holiday feed) concerns them all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select

from pmsync import model
from pmsync.config import Config
from pmsync.rules.facts import SourceFacts
from pmsync.store import FAILING_RUNS, FRESH_RUNS


def source_facts(conn: Connection, config: Config, now: datetime) -> dict[str, SourceFacts]:
    """Return the freshness of every enabled source at ``now``."""
    from pmsync.reports.reads import sync_interval

    run, src = model.table_of(model.SyncRun), model.table_of(model.Source)
    names: dict[int, str] = dict(conn.execute(select(src.c.id, src.c.name)).all())
    last_ok: dict[str, datetime] = {}
    good_by_stream = _last_run(run, now, *FRESH_RUNS)  # data flowed: fresh
    ok_by_stream = _last_run(run, now, "ok")  # every scope read: not failing
    grouped: Any = conn.execute(
        select(good_by_stream.c.source_id, func.max(good_by_stream.c.at)).group_by(
            good_by_stream.c.source_id
        )
    ).all()
    for source_id, at in grouped:
        last_ok[names[source_id]] = at
    failing: Any = conn.execute(
        select(
            run.c.source_id,
            run.c.stream,
            func.min(run.c.started_at).label("since"),
            func.max(run.c.started_at).label("latest"),
        )
        .outerjoin(
            ok_by_stream,
            and_(
                ok_by_stream.c.source_id == run.c.source_id, ok_by_stream.c.stream == run.c.stream
            ),
        )
        .where(
            run.c.status.in_(FAILING_RUNS),
            run.c.started_at <= now,
            or_(ok_by_stream.c.at.is_(None), run.c.started_at > ok_by_stream.c.at),
        )
        .group_by(run.c.source_id, run.c.stream)
    ).all()
    since: dict[str, datetime] = {}
    streams: dict[str, list[str]] = defaultdict(list)
    latest: dict[int, tuple[datetime, str]] = {}
    for source_id, stream, first, last in failing:
        name = names[source_id]
        since[name] = min(first, since.get(name, first))
        streams[name].append(stream)
        if source_id not in latest or last > latest[source_id][0]:
            latest[source_id] = (last, stream)
    errors = {names[sid]: error for sid, error in _errors(conn, latest).items()}
    return {
        name: SourceFacts(
            name=name,
            interval=sync_interval(config, name),
            last_success=last_ok.get(name),
            failing_since=since.get(name),
            failing_streams=tuple(sorted(streams.get(name, ()))),
            error=errors.get(name),
        )
        for name, source in sorted(config.sources.items())
        if source.enabled
    }


def _last_run(run: Any, now: datetime, *statuses: str) -> Any:
    """Return a subquery: per source and stream, when its last run of ``statuses`` finished."""
    return (
        select(run.c.source_id, run.c.stream, func.max(run.c.finished_at).label("at"))
        .where(run.c.status.in_(statuses), run.c.finished_at <= now)
        .group_by(run.c.source_id, run.c.stream)
        .subquery()
    )


def _errors(conn: Connection, latest: Mapping[int, tuple[datetime, str]]) -> dict[int, str]:
    run = model.table_of(model.SyncRun)
    wanted = [
        and_(run.c.source_id == sid, run.c.stream == stream, run.c.started_at == at)
        for sid, (at, stream) in latest.items()
    ]
    if not wanted:
        return {}
    found: dict[int, str] = {}
    rows: Any = conn.execute(
        select(run.c.source_id, run.c.error).where(run.c.status.in_(FAILING_RUNS), or_(*wanted))
    ).all()
    for source_id, error in rows:
        lines = [line.strip() for line in (error or "").splitlines() if line.strip()]
        found[source_id] = lines[0][:200] if lines else "failed"
    return found


def sources_by_project(
    conn: Connection, config: Config, project_ids: Mapping[str, int]
) -> dict[str, set[str]]:
    """Return, per project key, the names of the sources its data comes from."""
    src = model.table_of(model.Source)
    names: dict[int, str] = dict(conn.execute(select(src.c.id, src.c.name)).all())
    keys = {pid: key for key, pid in project_ids.items()}
    fed: dict[str, set[str]] = defaultdict(set)
    for table in (model.table_of(model.WorkItem), model.table_of(model.CalendarEvent)):
        pairs: Any = conn.execute(
            select(table.c.project_id, table.c.source_id)
            .where(table.c.project_id.in_(sorted(keys)), table.c.deleted_at.is_(None))
            .distinct()
        ).all()
        for project_id, source_id in pairs:
            fed[keys[project_id]].add(names[source_id])
    for key, project in config.projects.items():
        fed[key] |= _named_sources(project.model_dump())
    enabled = {name for name, source in config.sources.items() if source.enabled}
    used = set().union(*fed.values()) if fed else set()
    shared = enabled - used
    return {key: (fed[key] & enabled) | shared for key in config.projects}


def _named_sources(value: object) -> set[str]:
    """Return every ``source: NAME`` value in a project's configuration."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "source" and isinstance(item, str):
                found.add(item)
            else:
                found |= _named_sources(item)
    elif isinstance(value, list):
        for item in value:
            found |= _named_sources(item)
    return found
