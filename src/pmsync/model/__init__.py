"""The unified model: one SQLAlchemy schema for every source, SQLite and PostgreSQL.

Why it looks the way it does:

* Every table that holds records from ``pmsync.records`` is keyed by
  ``(source_id, external_id)`` with a unique constraint, so the store can upsert
  a page with one ``INSERT .. ON CONFLICT`` per table. Those tables share
  ``payload_hash`` (skip unchanged rows), ``deleted_at`` (a deletion is a mark,
  reports need history) and ``first_seen_at`` / ``last_seen_at``.
* People appear in records by the login a tool knows them by (``assignee_login``);
  ``identity`` maps ``(source, login)`` to a ``person`` once linking has matched
  them, so records never need a lookup at write time.
* Timestamps are ``UTCDateTime``: aware UTC in, aware UTC out, on SQLite too
  (SQLite has no time zone type and would hand back naive datetimes).
* One naming convention for constraints and indexes, so Alembic autogenerate
  produces the same names on every backend and run.
* Plan tables (``project``, ``milestone``, ``deliverable``, ``risk``, ...) are
  filled from configuration and by later stages; ``work_item.project_id`` and
  friends are linking results, never written by the record upsert.
"""

from pmsync.model.base import NAMING_CONVENTION, Base, JSONType, Money, UTCDateTime, table_of
from pmsync.model.daemon import DaemonInstance, DaemonLease
from pmsync.model.ops import Alert, AlertGroup, MetricSnapshot, Notification, Report, Silence
from pmsync.model.plan import (
    Baseline,
    CostEntry,
    Deliverable,
    Milestone,
    MilestoneItem,
    PlanChange,
    PlanState,
    Project,
    Risk,
    WorkItemLink,
)
from pmsync.model.sync import (
    RECORD_TABLES,
    CalendarEvent,
    Commit,
    Identity,
    Person,
    PullRequest,
    Quarantine,
    RecordColumns,
    Source,
    SourceMilestone,
    SyncCursor,
    SyncRun,
    WorkItem,
    WorkItemChange,
    Worklog,
)

__all__ = [
    "NAMING_CONVENTION",
    "RECORD_TABLES",
    "Alert",
    "AlertGroup",
    "Base",
    "Baseline",
    "CalendarEvent",
    "Commit",
    "CostEntry",
    "DaemonInstance",
    "DaemonLease",
    "Deliverable",
    "Identity",
    "JSONType",
    "MetricSnapshot",
    "Milestone",
    "MilestoneItem",
    "Money",
    "Notification",
    "Person",
    "PlanChange",
    "PlanState",
    "Project",
    "PullRequest",
    "Quarantine",
    "RecordColumns",
    "Report",
    "Risk",
    "Silence",
    "Source",
    "SourceMilestone",
    "SyncCursor",
    "SyncRun",
    "UTCDateTime",
    "WorkItem",
    "WorkItemChange",
    "WorkItemLink",
    "Worklog",
    "table_of",
]
