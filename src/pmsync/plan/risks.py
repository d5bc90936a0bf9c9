"""The risk register: the project file's risks and the Jira issues of a risk type.

Many teams keep risks as Jira issues of a type such as ``Risk``; a project's
``risk_issues`` names the source and type, and every such issue linked to the
project joins the register beside the configured risks, keyed by its issue
key. What Jira does not have a column for is read from the issue's custom
fields by logical name (``probability``, ``impact``; map them in the Jira
source's ``fields``): a value that is not a number is left empty, never
guessed. The issue's status category gives the risk's status (to do: open,
in progress: monitoring, done: closed), its assignee the owner, its due date
the next review.

``exposure`` is probability x impact (PMBOK's expected monetary value), so
the register adds up and compares with the budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select

from pmsync import model
from pmsync.config import Config
from pmsync.plan.apply import AppliedPlan, update_by_id

STATUS_OF_CATEGORY = {"todo": "open", "in_progress": "monitoring", "done": "closed"}


@dataclass(frozen=True, slots=True)
class RiskEntry:
    """One risk of the register, wherever it was written down."""

    key: str
    title: str
    probability: float | None
    impact: float | None
    owner: str | None
    status: str
    response: str | None
    response_plan: str | None
    review_date: date | None
    origin: str
    url: str | None

    @property
    def exposure(self) -> float | None:
        """Return probability x impact, or None when either is unknown."""
        if self.probability is None or self.impact is None:
            return None
        return self.probability * self.impact


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(str(value).strip().rstrip("%")) / (100 if str(value).endswith("%") else 1)
    except ValueError:
        return None


def _jira_risks(
    conn: Connection, config: Config, plan: AppliedPlan
) -> dict[int, list[dict[str, Any]]]:
    wanted = [
        (plan.project_ids[key], issues.source, issues.issue_type)
        for key, project in config.projects.items()
        for issues in project.risk_issues
    ]
    if not wanted:
        return {}
    wi = model.table_of(model.WorkItem)
    source = model.table_of(model.Source)
    ident, person = model.table_of(model.Identity), model.table_of(model.Person)
    found: dict[int, list[dict[str, Any]]] = {}
    for pid, source_name, issue_type in wanted:
        rows = conn.execute(
            select(wi, person.c.key.label("owner_key"))
            .join(source, source.c.id == wi.c.source_id)
            .outerjoin(
                ident,
                and_(ident.c.source_id == wi.c.source_id, ident.c.login == wi.c.assignee_login),
            )
            .outerjoin(person, person.c.id == ident.c.person_id)
            .where(
                source.c.name == source_name,
                func.lower(wi.c.item_type) == issue_type.lower(),
                wi.c.project_id == pid,
                wi.c.deleted_at.is_(None),
            )
        )
        for row in rows:
            custom = row.custom or {}
            found.setdefault(pid, []).append(
                {
                    "key": row.key,
                    "title": row.title,
                    "description": None,
                    "probability": _number(custom.get("probability")),
                    "impact": _number(custom.get("impact")),
                    "owner": row.owner_key or row.assignee_login,
                    "status": STATUS_OF_CATEGORY[row.status_category],
                    "response": custom.get("response")
                    if isinstance(custom.get("response"), str)
                    else None,
                    "response_plan": None,
                    "review_date": row.due_date,
                    "origin": "jira",
                    "url": row.url,
                }
            )
    return found


def sync_risks(conn: Connection, config: Config, plan: AppliedPlan, now: datetime) -> int:
    """Make the ``risk`` table the register of every project; return rows changed."""
    wanted: dict[tuple[int, str], dict[str, Any]] = {}
    for key, project in config.projects.items():
        pid = plan.project_ids[key]
        for risk in project.risks:
            wanted[(pid, risk.id)] = {
                "key": risk.id,
                "title": risk.title,
                "description": risk.description or None,
                "probability": float(risk.probability),
                "impact": float(risk.impact),
                "owner": risk.owner,
                "status": risk.status,
                "response": risk.response,
                "response_plan": risk.response_plan or None,
                "review_date": risk.next_review,
                "origin": "config",
                "url": None,
            }
    for pid, rows in _jira_risks(conn, config, plan).items():
        for row in rows:
            wanted.setdefault((pid, row["key"]), row)
    table = model.table_of(model.Risk)
    existing = {
        (r.project_id, r.key): r
        for r in conn.execute(
            select(table).where(table.c.project_id.in_(list(plan.project_ids.values())))
        )
    }
    inserts = [
        {"project_id": pid, "updated_at": now, **values}
        for (pid, key), values in wanted.items()
        if (pid, key) not in existing
    ]
    updates = [
        {
            "row_id": existing[k].id,
            "updated_at": now,
            **{c: v for c, v in values.items() if c != "key"},
        }
        for k, values in wanted.items()
        if k in existing and any(getattr(existing[k], c) != v for c, v in values.items())
    ]
    gone = [r.id for k, r in existing.items() if k not in wanted]
    if gone:
        conn.execute(delete(table).where(table.c.id.in_(gone)))
    if inserts:
        conn.execute(insert(table), inserts)
    update_by_id(conn, table, updates)
    return len(inserts) + len(updates) + len(gone)


def risk_register(conn: Connection, project_id: int) -> list[RiskEntry]:
    """Return a project's register, the highest exposure first."""
    table = model.table_of(model.Risk)
    rows = conn.execute(select(table).where(table.c.project_id == project_id))
    entries = [
        RiskEntry(
            r.key,
            r.title,
            r.probability,
            r.impact,
            r.owner,
            r.status,
            r.response,
            r.response_plan,
            r.review_date,
            r.origin,
            r.url,
        )
        for r in rows
    ]
    return sorted(entries, key=lambda e: (-(e.exposure or 0.0), e.key))
