"""Reports by e-mail on the communication plan's schedule, and packs before meetings.

Two daemon hooks live here. ``send_scheduled_report`` runs when a
communication-plan entry's cron fires: it writes the reports into the site and
mails them (the HTML report is the message body, Markdown as the plain-text
part, the chosen formats attached; with ``base_url`` the body is a short
summary and a link instead). ``send_meeting_packs`` runs every few minutes: for
each status meeting or steering committee found in the calendars that starts
within the lead time, it sends the attendees an agenda built from the
project's state (alerts, decisions, milestones due, risks to review) with the
latest report attached, once per meeting (remembered in the ``report`` table).

SMTP is alerting's ``EmailChannel`` (one SMTP client in pmsync); a test or a
dry run passes its own ``send``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from pmsync import model
from pmsync.config import CommunicationEntry, Config
from pmsync.config.settings import EmailReceiver
from pmsync.health.figures import Analysis
from pmsync.reports import fmt, reads
from pmsync.reports.facts import Meeting, ProjectReport, Risks, is_available
from pmsync.reports.jobs import generate_reports
from pmsync.reports.render_html import render_html, render_template
from pmsync.reports.render_md import render_md
from pmsync.store import Store

log = logging.getLogger("pmsync.reports")

Send = Callable[[EmailReceiver, EmailMessage, str], None]
PACK_KINDS = ("status_meeting", "steering_committee")
DEFAULT_LEAD_TIME = timedelta(hours=24)


def _key(text: str) -> str:
    """Return a stable idempotency key (the same across processes and restarts)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


class DeliveryProblem(Exception):
    """A report or pack that cannot be sent as configured (no SMTP receiver, no recipient)."""


def smtp_send(config: Config) -> Send:
    """Return a sender through alerting's e-mail channel (STARTTLS/TLS, login, CA file)."""
    from pmsync.alerts.channels.email import EmailChannel

    def send(receiver: EmailReceiver, message: EmailMessage, key: str) -> None:
        channel = EmailChannel(
            "reports",
            receiver,
            None,  # type: ignore[arg-type]
            config_dir=config.config_dir,
            timeout=timedelta(seconds=30),
        )
        channel.send(message, key, datetime.now().astimezone())

    return send


def smtp_receiver(config: Config, names: Iterable[str] = ()) -> EmailReceiver:
    """Return the e-mail receiver to send through: one named, else the first configured."""
    receivers = config.settings.receivers
    for name in [*names, *sorted(receivers)]:
        receiver = receivers.get(name)
        if isinstance(receiver, EmailReceiver):
            return receiver
    raise DeliveryProblem("no e-mail receiver in pmsync.yaml to send reports through")


def recipients(config: Config, entry: CommunicationEntry) -> list[str]:
    """Return the entry's addresses plus those of the e-mail receivers it names."""
    found = list(entry.recipients)
    for name in entry.receivers:
        receiver = config.settings.receivers.get(name)
        if isinstance(receiver, EmailReceiver):
            found += receiver.to
    return list(dict.fromkeys(found))


def report_message(
    report: ProjectReport | Any,
    *,
    sender: str,
    to: list[str],
    formats: Iterable[str],
    link: str | None = None,
    attachments: dict[str, str] | None = None,
) -> EmailMessage:
    """Return the e-mail of a report: HTML body (or summary + link), Markdown text part."""
    message = EmailMessage()
    if isinstance(report, ProjectReport):
        h = report.header
        subject = f"{h.project_key} status {h.status_date}: {fmt.rag_text(h.overall.rag)} — "
        subject += h.overall.reason
    else:
        subject = f"Portfolio status {report.status_date}: {len(report.projects)} projects"
    message["Subject"] = " ".join(subject.split())[:200]
    message["From"], message["To"] = sender, ", ".join(to)
    message["Auto-Submitted"] = "auto-generated"
    text = render_md(report)
    if link:
        text = f"The full report: {link}\n\n{text}"
    message.set_content(text)
    html = (
        render_template("email_link.html.j2", r=report, link=link) if link else render_html(report)
    )
    message.add_alternative(html, subtype="html")
    for name, body in (attachments or {}).items():
        subtype = {"json": "json", "md": "markdown", "html": "html"}[name.rsplit(".", 1)[1]]
        maintype = "application" if subtype == "json" else "text"
        message.add_attachment(
            body.encode("utf-8"), maintype=maintype, subtype=subtype, filename=name
        )
    return message


def _today(config: Config, now: datetime) -> date:
    return now.astimezone(ZoneInfo(config.settings.timezone)).date()


def send_scheduled_report(
    store: Store,
    config: Config,
    now: datetime,
    project: str,
    entry: CommunicationEntry,
    fire_time: datetime | None = None,
    *,
    out: Path | None = None,
    send: Send | None = None,
    base_url: str | None = None,
    analysis: Analysis | None = None,
) -> list[str]:
    """Write and e-mail the report of one communication-plan entry; return the recipients.

    ``analysis``: every project already measured (``pmsync.health.analyse``), if at hand.
    """
    out = out or config.var_dir / "reports"
    as_of = _today(config, fire_time or now)
    portfolio = entry.report == "portfolio"
    written = generate_reports(
        config,
        store,
        out,
        as_of=as_of,
        now=lambda: now,
        projects=None if portfolio else [project],
        portfolio=portfolio,
        formats=entry.formats,
        analysis=analysis,
    )
    report = written.portfolio if portfolio else written.projects[project]
    key = None if portfolio else project
    files = {f: written.report_file(out, key, f) for f in entry.formats}
    link = None
    if base_url:
        link = (
            f"{base_url.rstrip('/')}/{files.get('html', files[entry.formats[0]]).relative_to(out)}"
        )
    attachments = {
        f"{(key or 'portfolio')}-{as_of}.{f}": files[f].read_text(encoding="utf-8")
        for f in entry.formats
        if f != "html" or link
    }
    to = recipients(config, entry)
    if not to:
        raise DeliveryProblem(f"{project}: communication entry {entry.audience!r} has no e-mail")
    receiver = smtp_receiver(config, entry.receivers)
    message = report_message(
        report,
        sender=receiver.sender,
        to=to,
        formats=entry.formats,
        link=link,
        attachments=attachments,
    )
    ident = f"report-{key or 'portfolio'}-{as_of}-{_key(entry.audience)}"
    (send or smtp_send(config))(receiver, message, ident)
    log.info(
        "report of %s for %s sent to %d recipients", key or "the portfolio", entry.audience, len(to)
    )
    return to


@dataclass(frozen=True)
class Agenda:
    """What a meeting pack proposes to discuss, built from the project's state."""

    meeting: Meeting
    project_key: str
    project_name: str
    items: tuple[tuple[str, tuple[str, ...]], ...]
    """(heading, points) in the order they should be discussed."""


def build_agenda(report: ProjectReport, meeting: Meeting) -> Agenda:
    """Return the agenda: status, alerts, decisions, milestones due, risks to review."""
    h = report.header
    status = [f"Overall {fmt.rag_text(h.overall.rag)}: {h.overall.reason}"]
    status += [
        f"{d.dimension.capitalize()} {fmt.rag_text(d.rag)}: {d.reason}" for d in h.dimensions
    ]
    alerts = (
        [f"{a.severity}: {a.summary}" for a in report.alerts]
        if isinstance(report.alerts, tuple)
        else []
    )
    decisions = [f"{d.title} — {d.why}" for d in report.decisions]
    horizon = meeting.starts_at.date() + timedelta(days=14)
    due = [
        f"{m.name}: due {fmt.day(m.current_due)}, P85 {fmt.day(m.forecast_p85)} ({m.status})"
        for m in (report.milestones if isinstance(report.milestones, tuple) else ())
        if m.status != "done" and m.current_due and m.current_due <= horizon
    ]
    risks: list[str] = []
    if isinstance(report.risks, Risks):
        review = {r.key: r for r in report.risks.overdue_reviews}
        review.update(
            {
                r.key: r
                for r in report.risks.top
                if r.next_review and r.next_review <= meeting.starts_at.date()
            }
        )
        risks = [
            f"{r.key}: {r.title} (review due {fmt.day(r.next_review)}, owner {r.owner or '—'})"
            for r in review.values()
        ]
    items = (
        ("Status", tuple(status)),
        ("Open alerts", tuple(alerts)),
        ("Decisions needed", tuple(decisions)),
        ("Milestones due", tuple(due)),
        ("Risks to review", tuple(risks)),
    )
    return Agenda(meeting, h.project_key, h.project_name, items)


def _packed(store: Store, key: str) -> bool:
    with store.session(readonly=True) as s:
        return (
            s.scalar(
                select(model.Report.id).where(
                    model.Report.kind == "meeting_pack", model.Report.path == key
                )
            )
            is not None
        )


def send_meeting_packs(
    store: Store,
    config: Config,
    now: datetime,
    *,
    lead_time: timedelta = DEFAULT_LEAD_TIME,
    out: Path | None = None,
    send: Send | None = None,
) -> list[tuple[Meeting, list[str]]]:
    """Send the pack of every cadence meeting starting within ``lead_time``; return them."""
    out, sent = out or config.var_dir / "reports", []
    for key, plan in sorted(config.projects.items()):
        meetings = reads.cadence_meetings(config, store, plan, now, now + lead_time, PACK_KINDS)
        for meeting in meetings:
            pack_key = f"{key}:{meeting.kind}:{meeting.starts_at.isoformat()}:{meeting.title}"
            if _packed(store, pack_key) or not meeting.attendees:
                continue
            written = generate_reports(
                config,
                store,
                out,
                as_of=_today(config, now),
                now=lambda: now,
                projects=[key],
                portfolio=False,
                formats=("html", "json"),
            )
            report = written.projects[key]
            agenda = build_agenda(report, meeting)
            receiver = smtp_receiver(config)
            message = EmailMessage()
            message["Subject"] = (
                f"Agenda: {' '.join(meeting.title.split())[:150]} "
                f"({fmt.instant(meeting.starts_at)})"
            )
            message["From"], message["To"] = receiver.sender, ", ".join(meeting.attendees)
            message["Auto-Submitted"] = "auto-generated"
            message.set_content(render_template("meeting_pack.txt.j2", a=agenda, text=True))
            message.add_alternative(
                render_template("meeting_pack.html.j2", a=agenda), subtype="html"
            )
            html = written.report_file(out, key, "html").read_bytes()
            message.add_attachment(
                html,
                maintype="text",
                subtype="html",
                filename=f"{key}-status-{report.header.status_date}.html",
            )
            (send or smtp_send(config))(receiver, message, f"pack-{_key(pack_key)}")
            with store.session() as s:
                s.add(
                    model.Report(
                        project_id=reads.project_id(store, key),
                        kind="meeting_pack",
                        format="email",
                        path=pack_key,
                        generated_at=now,
                        as_of=report.header.status_date,
                    )
                )
            sent.append((meeting, list(meeting.attendees)))
    return sent


__all__ = ["Agenda", "build_agenda", "is_available", "send_meeting_packs", "send_scheduled_report"]
