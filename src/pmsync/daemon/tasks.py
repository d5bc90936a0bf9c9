"""What each daemon job does: the same functions the CLI commands call, one at a time.

A sync job is ``sync_configured`` for one source, with the daemon's stop event
(the engine checks it between pages) and a retry sleep that a stop interrupts.
The other jobs call hooks (see ``hooks.py``): plan refresh, rule evaluation and
alert updates, notification dispatch, the daily metric snapshot, scheduled
reports and meeting packs. A job whose capability is not installed reports
``skipped``; the hook table says so in the log once. The check, the snapshot
and the reports are offered the daemon's kept measurement of the portfolio
when their hook takes it (``analysis.py``), so an unchanged store is not
measured again for each of them.

Logging: one line per sync run (``event=sync_run``) with its figures. The
engine itself logs a source's "failing" and "recovered" transitions, and
alerting logs each alert transition, so neither is repeated here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from pmsync import model
from pmsync.daemon.base import JobContext, JobResult
from pmsync.sync import sync_configured

log = logging.getLogger("pmsync.daemon")
INTERRUPTED = "interrupted: the daemon running it stopped (killed or crashed); taken over by {}"


def close_orphan_runs(ctx: JobContext, source: str, holder: str) -> int:
    """Mark runs of ``source`` left 'running' by a dead daemon as failed; return how many."""
    run = model.SyncRun
    source_id = select(model.Source.id).where(model.Source.name == source).scalar_subquery()
    with ctx.store.transaction() as conn:
        result = conn.execute(
            update(run)
            .where(run.source_id == source_id, run.status == "running")
            .values(status="failed", finished_at=ctx.store.now(), error=INTERRUPTED.format(holder))
        )
    return int(result.rowcount or 0)


def sync_source(ctx: JobContext, source: str, holder: str = "") -> JobResult:
    """Sync one source (its lease is held); log and count each stream's run."""
    orphans = close_orphan_runs(ctx, source, holder)
    if orphans:
        log.warning(
            "source %s: %d sync run(s) left running by a stopped daemon marked failed",
            source,
            orphans,
            extra={"event": "sync_takeover", "source": source},
        )
    report = sync_configured(
        ctx.config, ctx.store, only=[source], now=ctx.now, stop=ctx.stop, sleep=ctx.sleep
    )
    for result in report.results:
        ctx.metrics.observe_sync(result)
        seconds = (
            (result.finished_at - result.started_at).total_seconds()
            if result.started_at and result.finished_at
            else None
        )
        log.info(
            "sync run %s/%s %s: %d pages, %d created, %d updated, %d unchanged, %d deleted, "
            "%d quarantined, %d requests%s",
            result.source,
            result.stream,
            result.status,
            result.pages,
            result.created,
            result.updated,
            result.unchanged,
            result.deleted,
            result.quarantined,
            result.requests,
            f" ({result.error})" if result.error else "",
            extra={
                "event": "sync_run",
                "source": result.source,
                "stream": result.stream,
                "status": result.status,
                "run_id": result.run_id,
                "full": result.full,
                "counts": {
                    "pages": result.pages,
                    "created": result.created,
                    "updated": result.updated,
                    "unchanged": result.unchanged,
                    "deleted": result.deleted,
                    "quarantined": result.quarantined,
                    "requests": result.requests,
                    "not_modified": result.not_modified,
                    "retries": result.retries,
                },
                "duration_s": round(seconds, 3) if seconds is not None else None,
                "error": result.error,
            },
        )
    ctx.run_soon("check")
    if ctx.stop.is_set():
        return JobResult("stopped", "stopped after the page in flight; the next run resumes")
    if not report.ok:
        return JobResult("failed", f"failed streams: {', '.join(_failed(report.results))}")
    if report.skipped:  # the rest was read; the sync_failing alert names what was skipped
        return JobResult("ok", f"skipped {'; '.join(report.skipped)}")
    return JobResult("ok")


def _failed(results: Sequence[Any]) -> list[str]:
    return [f"{r.source}/{r.stream}" for r in results if r.status == "failed"]


def check(ctx: JobContext, limit: int = 100) -> JobResult:
    """Evaluate the rules, update alerts and send what that queued (plan refreshed if stale)."""
    offered = {"store": ctx.store, "config": ctx.config, "now": ctx.now}
    if ctx.plan_stale():  # each sync refreshes the plan; a changed config has not yet
        ctx.hooks.call("refresh_plan", **offered)
    if ctx.hooks.get("evaluate_rules") is None or ctx.hooks.get("run_check") is None:
        # Never update alerts without findings: an empty set would resolve every alert.
        return JobResult("skipped", "the rules engine or alerting is not installed")
    measured = _measured(ctx, "evaluate_rules", "health")
    _, findings = ctx.hooks.call("evaluate_rules", **offered, **measured)
    _, report = ctx.hooks.call("run_check", findings=findings, limit=limit, **offered)
    sent, failed = _count_dispatch(ctx, getattr(report, "dispatch", None))
    return JobResult("ok", f"{sent} notification(s) sent, {failed} failed")


def _count(result: Any, key: str) -> int:
    value: Any = result.get(key) if isinstance(result, Mapping) else getattr(result, key, 0)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return len(value)
    except TypeError:
        return 0


def _count_dispatch(ctx: JobContext, result: Any) -> tuple[int, int]:
    """Count a dispatch's sent and failed deliveries (failed: given up or to be retried)."""
    if result is None:
        return 0, 0
    sent = _count(result, "sent")
    failed = _count(result, "failed") + _count(result, "retrying")
    ctx.metrics.notifications_sent.inc(sent)
    ctx.metrics.notifications_failed.inc(failed)
    return sent, failed


def dispatch(ctx: JobContext, limit: int = 100) -> JobResult:
    """Send due notifications (alerting claims rows with SKIP LOCKED: replicas share it)."""
    called, result = ctx.hooks.call(
        "dispatch", store=ctx.store, config=ctx.config, now=ctx.now, limit=limit
    )
    if not called:
        return JobResult("skipped", "alerting is not installed")
    sent, failed = _count_dispatch(ctx, result)
    return JobResult("ok", f"{sent} sent, {failed} failed")


def _today(ctx: JobContext) -> date:
    return _day_of(ctx, None)


def _day_of(ctx: JobContext, moment: datetime | None) -> date:
    """Return the day of ``moment`` (None: now) in the installation's time zone."""
    return (moment or ctx.now()).astimezone(ZoneInfo(ctx.config.settings.timezone)).date()


def _measured(
    ctx: JobContext, hook: str, parameter: str, *, day: date | None = None, new: bool = True
) -> dict[str, Any]:
    """Offer ``hook`` the portfolio measured at ``day`` (today) as ``parameter``, if it takes it.

    ``new``: measure when the daemon keeps no valid measurement (else only a kept one).
    """
    if ctx.analysis is None or not ctx.hooks.declares(hook, parameter):
        return {}
    day = day or _today(ctx)
    if new:
        found = ctx.analysis.measure(ctx.store, ctx.config, day, ctx.now)
    else:
        found = ctx.analysis.kept(ctx.store, ctx.config, day)
    return {} if found is None else {parameter: found}


def snapshot(ctx: JobContext) -> JobResult:
    """Take the daily metric snapshot (idempotent per day)."""
    day = _today(ctx)
    called, _ = ctx.hooks.call(
        "snapshot",
        store=ctx.store,
        config=ctx.config,
        now=ctx.now,
        day=day,
        **_measured(ctx, "snapshot", "analysis", day=day),
    )
    return JobResult("ok") if called else JobResult("skipped", "metrics are not installed")


def report(ctx: JobContext, project: str, entry: int) -> JobResult:
    """Produce and send one communication-plan report (only write it, without delivery)."""
    plan = ctx.config.projects.get(project)
    if plan is None or entry >= len(plan.communication):
        return JobResult("skipped", f"project {project} has no communication entry {entry}")
    wanted = plan.communication[entry]
    offered: dict[str, Any] = {
        "store": ctx.store,
        "config": ctx.config,
        "now": ctx.now,
        "project": project,
        "entry": wanted,
        "entry_index": entry,
        "fire_time": ctx.fire_time,
    }
    portfolio = wanted.report == "portfolio"
    # the portfolio measures every project anyway; one project's report reads only its own
    # unless the daemon keeps a valid measurement of them all
    called, _ = ctx.hooks.call(
        "report",
        **offered,
        **_measured(ctx, "report", "analysis", day=_day_of(ctx, ctx.fire_time), new=portfolio),
    )
    if called:
        return JobResult("ok")
    called, written = ctx.hooks.call(
        "write_reports",
        out=ctx.config.var_dir / "reports",
        as_of=_today(ctx),
        projects=None if portfolio else [project],
        portfolio=portfolio,
        formats=list(wanted.formats),
        **offered,
        **_measured(ctx, "write_reports", "analysis", new=portfolio),
    )
    if not called:
        return JobResult("skipped", "reports are not installed")
    paths = [str(p) for p in getattr(written, "paths", [])]
    log.info(
        "report %s (%s) written without delivery: %s",
        ctx.job_id,
        wanted.audience,
        ", ".join(paths) or "nothing",
        extra={"event": "report_written", "job": ctx.job_id, "paths": paths},
    )
    return JobResult("ok", f"{len(paths)} file(s) written; delivery is not installed")


def meeting_packs(ctx: JobContext) -> JobResult:
    """Send the agenda packs of meetings that start within their lead time."""
    called, _ = ctx.hooks.call("meeting_packs", store=ctx.store, config=ctx.config, now=ctx.now)
    return JobResult("ok") if called else JobResult("skipped", "meeting packs are not installed")
