"""Commits and pull requests → the work items they name (``PAY-12``, ``#3``, ``fixes #3``).

Developers name the issue they work on in commit messages, pull-request
titles and bodies, and branch names. pmsync finds those keys with the
patterns of the GitHub source the record came from (``key_patterns``,
``issue_ref_pattern``, ``closing_pattern`` in ``sources.yaml``, the same keys
the connector uses, with the same defaults), and keeps one link per record
and key: ``fixes`` when a closing keyword names it, else ``mentions``.

A Jira key is kept only when its prefix is a Jira project pmsync has issues
from (``UTF-8`` and ``SHA-256`` are not issue keys); a bare ``#3`` means issue
3 of the record's own repository. Links are resolved to work items on every
refresh, so a commit that names an issue synced later is linked once it is:
the links that may have moved, that is, the unresolved ones and those that
point at or name an item the refresh placed again (every link when it placed
every item; see ``pmsync.plan.linking``).

Scanning is incremental: each record keeps the fingerprint (its payload hash,
the patterns and the known Jira projects) it was last scanned with, and only
records whose fingerprint differs are read again; the rest is set-based SQL.
The refresh reads and scans them in a thread (``scan_beside``) while it
places the work items, and stamps each record with the hash it read, so a
record rewritten in between is read again by the next refresh.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    String,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)

from pmsync import model
from pmsync.ahead import Ahead
from pmsync.config import Config
from pmsync.plan.sql import Scratch, insert_many
from pmsync.upsert import among

DEFAULT_KEY_PATTERNS = (r"\b[A-Z][A-Z0-9]+-\d+\b",)
DEFAULT_ISSUE_REF_PATTERN = (
    r"(?<![\w/])(?:(?P<repo>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+))?#(?P<number>\d+)\b"
)
DEFAULT_CLOSING_PATTERN = (
    r"(?i)\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b:?\s+"
    r"(?P<ref>(?:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)?#\d+)"
)


@dataclass(frozen=True, slots=True)
class KeyFinder:
    """The compiled patterns of one source, and the Jira projects keys may belong to."""

    key_patterns: tuple[re.Pattern[str], ...]
    issue_ref: re.Pattern[str]
    closing: re.Pattern[str]
    jira_projects: frozenset[str]

    @classmethod
    def for_settings(cls, settings: Any, jira_projects: Iterable[str]) -> KeyFinder:
        """Build a finder from a source's settings (defaults where it has none)."""
        keys = getattr(settings, "key_patterns", None) or DEFAULT_KEY_PATTERNS
        return cls(
            tuple(re.compile(p) for p in keys),
            re.compile(getattr(settings, "issue_ref_pattern", None) or DEFAULT_ISSUE_REF_PATTERN),
            re.compile(getattr(settings, "closing_pattern", None) or DEFAULT_CLOSING_PATTERN),
            frozenset(jira_projects),
        )

    @property
    def fingerprint(self) -> str:
        """Return a short digest of everything that decides what is found."""
        parts = [p.pattern for p in self.key_patterns]
        parts += [self.issue_ref.pattern, self.closing.pattern, *sorted(self.jira_projects)]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]

    def _issue(self, repository: str, match: re.Match[str]) -> str:
        groups = match.groupdict()
        return f"{groups.get('repo') or repository}#{int(groups['number'])}"

    def find(self, repository: str, *texts: str | None) -> dict[tuple[str, str], str]:
        """Return {(key kind, key): relation} for the keys named in ``texts``."""
        found: dict[tuple[str, str], str] = {}
        for text in texts:
            if not text:
                continue
            for pattern in self.key_patterns:
                for match in pattern.finditer(text):
                    key = match.group(0)
                    if key.rsplit("-", 1)[0] in self.jira_projects:
                        found.setdefault(("jira", key), "mentions")
            for match in self.issue_ref.finditer(text):
                found.setdefault(("github", self._issue(repository, match)), "mentions")
            for match in self.closing.finditer(text):
                for ref in self.issue_ref.finditer(match.group("ref")):
                    found[("github", self._issue(repository, ref))] = "fixes"
        return found


@dataclass(frozen=True, slots=True)
class MentionLinks:
    """What scanning and resolving did."""

    records_scanned: int
    links_written: int
    links_resolved: int


_KINDS: tuple[tuple[str, type[Any], tuple[str, ...]], ...] = (
    ("commit", model.Commit, ("message", "branch")),
    ("pull_request", model.PullRequest, ("title", "body", "head_ref")),
)
"""Record kind, table, and the text columns keys are looked for in."""


def _jira_sources(config: Config, sources: Mapping[str, int]) -> list[int]:
    return [sources[n] for n, s in config.sources.items() if s.type == "jira" and n in sources]


def link_mentions(
    conn: Connection,
    config: Config,
    placed: Collection[int] | None = None,
    scanned: Iterable[ScanBatch] | None = None,
) -> MentionLinks:
    """Scan new or changed commits and pull requests for keys; resolve the links.

    ``placed``: the work items the plan refresh placed again (what a sync wrote);
    only links that are unresolved, or point at or name one of them, can have
    moved. None resolves every link. ``scanned``: the batches ``scan_beside``
    read beside the refresh; None reads them here, on ``conn``.
    """
    links = model.table_of(model.WorkItemLink)
    for kind, cls, _texts in _KINDS:
        table = model.table_of(cls)
        conn.execute(
            delete(links).where(
                links.c.from_kind == kind,
                links.c.from_id.in_(select(table.c.id).where(table.c.deleted_at.isnot(None))),
            )
        )
    sources = dict(conn.execute(select(model.Source.name, model.Source.id)).all())
    jira = _jira_sources(config, sources)
    scanned_records = written = 0
    scratch = Scratch(conn)
    try:
        stage: Table | None = None
        for batch in scan_batches(conn, config) if scanned is None else scanned:
            if stage is None:
                stage = scratch.table(
                    "pmsync_found",
                    Column("from_id", Integer),
                    Column("key", String),
                    Column("key_kind", String),
                    Column("relation", String),
                )
            _write_batch(conn, batch, stage, jira)
            scanned_records, written = scanned_records + len(batch.ids), written + len(batch.found)
    finally:
        scratch.close()
    return MentionLinks(scanned_records, written, _resolve(conn, jira, placed))


SCAN_BATCH = 10_000
"""Records read and linked at a time: a first sync brings hundreds of thousands of
commits, and holding all their messages at once made the refresh the sync's peak
of memory."""


@dataclass(frozen=True, slots=True)
class ScanBatch:
    """Up to ``SCAN_BATCH`` records of one kind and source, scanned: what to write for them."""

    kind: str
    table: Table
    source_id: int
    fingerprint: str
    ids: list[int]
    hashes: list[str]
    """Each record's payload hash as it was read (the fingerprint is stamped only on it)."""
    found: list[tuple[int, str, str, str]]
    """(record id, key kind, key, relation) for each key found."""


def scan_batches(conn: Connection, config: Config) -> Iterator[ScanBatch]:
    """Read the commits and pull requests whose fingerprint differs, and find their keys.

    Reads only: the batches are written by ``_write_batch``, on this connection or
    another one. By id, so no record comes twice whether or not a batch was
    written before the next is read.
    """
    sources = dict(conn.execute(select(model.Source.name, model.Source.id)).all())
    names = {v: k for k, v in sources.items()}
    wi = model.table_of(model.WorkItem)
    jira = _jira_sources(config, sources)
    projects: set[str] = set(
        conn.scalars(select(wi.c.container).where(wi.c.source_id.in_(jira)).distinct())
    )
    for kind, cls, texts in _KINDS:
        table = model.table_of(cls)
        source_ids: list[int] = list(conn.scalars(select(table.c.source_id).distinct()))
        for sid in source_ids:
            source = config.sources.get(names.get(sid, ""))
            finder = KeyFinder.for_settings(source.settings if source else None, projects)
            yield from _scan(conn, table, kind, texts, sid, finder)


def _scan(
    conn: Connection, table: Table, kind: str, texts: tuple[str, ...], sid: int, finder: KeyFinder
) -> Iterator[ScanBatch]:
    """Scan the records of one source whose fingerprint differs, ``SCAN_BATCH`` at a time."""
    fingerprint = finder.fingerprint
    stamp = table.c.payload_hash + literal(":" + fingerprint)
    columns = (table.c.id, table.c.payload_hash, table.c.repository, *(table.c[t] for t in texts))
    after = -1
    while True:
        rows = conn.execute(
            select(*columns)
            .where(
                table.c.source_id == sid,
                table.c.deleted_at.is_(None),
                table.c.link_fingerprint.is_distinct_from(stamp),
                table.c.id > after,
            )
            .order_by(table.c.id)
            .limit(SCAN_BATCH)
        )
        # Each row's texts are dropped once scanned: the batch's messages and bodies are
        # never all held at once, only its ids and the keys found.
        ids: list[int] = []
        hashes: list[str] = []
        found: list[tuple[int, str, str, str]] = []
        for row in rows:
            record_id: int = row[0]
            ids.append(record_id)
            hashes.append(row[1])
            found.extend(
                (record_id, key_kind, key, relation)
                for (key_kind, key), relation in finder.find(row[2], *row[3:]).items()
            )
        if not ids:
            return
        after = ids[-1]
        yield ScanBatch(kind, table, sid, fingerprint, ids, hashes, found)


AHEAD_BATCHES = 2
"""Batches ``scan_beside`` may hold scanned before the refresh writes them. What they
hold is their ids, hashes and keys found, not their texts: about 3 MB for 10,000
commits, so the thread adds at most three batches to the refresh's memory (the
first refresh after a 100k-item sync peaked 11 MB higher: docs/plan.md, "Speed")."""


def scan_beside(engine: Engine, config: Config) -> Ahead[ScanBatch]:
    """Read and scan commits and pull requests in a thread, while the refresh places items.

    Placing items is SQL that runs with the interpreter free, and scanning texts
    for keys is Python: side by side, the scan costs the refresh little of its
    time (docs/plan.md, "Speed"). The thread reads through a connection of its
    own, opened after the refresh's transaction began: on SQLite that holds the
    write lock, so the thread reads what the refresh would have read; on
    PostgreSQL a sync may rewrite a record in between, and ``_write_batch``
    stamps only what was read. Close it on every path (a context manager).
    """

    def batches() -> Iterator[ScanBatch]:
        with engine.connect() as conn:
            yield from scan_batches(conn, config)

    return Ahead(batches(), AHEAD_BATCHES, "pmsync-mentions")


def _write_batch(conn: Connection, batch: ScanBatch, stage: Table, jira: list[int]) -> None:
    """Replace the batch's records' links with the keys found, and stamp their fingerprint.

    The stamp goes only on a record whose payload hash is still one the batch
    read: a record that a sync rewrote since it was read (PostgreSQL, another
    source's job) keeps its old fingerprint and is read again by the next refresh.
    Each link is written pointing at the live item its key names (through the
    scratch table ``stage``), so ``_resolve`` moves only links whose item came,
    moved or went since: writing every new link and then pointing it took
    PostgreSQL twice the rows (docs/plan.md, "Speed").
    """
    links = model.table_of(model.WorkItemLink)
    table, dialect = batch.table, conn.dialect.name
    conn.execute(
        delete(links).where(
            links.c.from_kind == batch.kind, among(dialect, links.c.from_id, "ids", batch.ids)
        )
    )
    conn.execute(
        update(table)
        .where(
            among(dialect, table.c.id, "ids", batch.ids),
            among(dialect, table.c.payload_hash, "hashes", batch.hashes),
        )
        .values(link_fingerprint=table.c.payload_hash + literal(":" + batch.fingerprint))
    )
    if not batch.found:
        return
    insert_many(
        conn,
        stage,
        [
            {"from_id": record_id, "key": key, "key_kind": key_kind, "relation": relation}
            for record_id, key_kind, key, relation in batch.found
        ],
    )
    names = ["from_kind", "from_id", "source_id", "key", "key_kind", "relation", "work_item_id"]
    conn.execute(
        insert(links).from_select(
            names,
            select(
                literal(batch.kind),
                stage.c.from_id,
                literal(batch.source_id),
                stage.c.key,
                stage.c.key_kind,
                stage.c.relation,
                case(
                    (stage.c.key_kind == "jira", _item_named(stage.c.key, "jira", None, jira)),
                    else_=_item_named(stage.c.key, "github", batch.source_id, jira),
                ),
            ),
        )
    )
    conn.execute(delete(stage))


def _item_named(key: Any, key_kind: str, source_id: Any, jira: list[int]) -> Any:
    """Return the live work item ``key`` names, as a scalar subquery: a Jira key's in the
    Jira sources, a GitHub key's (``owner/repo#n``) in the link's own ``source_id``."""
    wi = model.table_of(model.WorkItem)
    where = wi.c.source_id.in_(jira) if key_kind == "jira" else wi.c.source_id == source_id
    return (
        select(func.min(wi.c.id))
        .where(wi.c.key == key, wi.c.deleted_at.is_(None), where)
        .scalar_subquery()
    )


def _resolve(conn: Connection, jira: list[int], placed: Collection[int] | None) -> int:
    """Point the links that may have moved at the live work item their key names now.

    A link's item can change only when an item with its key was written: it
    is then among the items placed again, so with ``placed`` only the links
    that are unresolved, point at a placed item or name one's key are read
    (every link when None). Returns the links changed.
    """
    links = model.table_of(model.WorkItemLink)
    wi = model.table_of(model.WorkItem)
    scratch = Scratch(conn)
    try:
        maybe: Any = true()
        if placed is not None and not placed:
            maybe = links.c.work_item_id.is_(None)
        elif placed is not None:
            ids = scratch.table("pmsync_placed", Column("id", Integer, primary_key=True))
            scratch.fill(ids, [{"id": i} for i in placed])
            some = select(ids.c.id)
            maybe = or_(
                links.c.work_item_id.is_(None),
                links.c.work_item_id.in_(some),
                links.c.key.in_(select(wi.c.key).where(wi.c.id.in_(some))),
            )
        return _resolve_where(conn, jira, maybe)
    finally:
        scratch.close()


def _resolve_where(conn: Connection, jira: list[int], maybe: Any) -> int:
    links = model.table_of(model.WorkItemLink)
    changed = 0
    for key_kind in ("jira", "github"):
        target = _item_named(links.c.key, key_kind, links.c.source_id, jira)
        result = conn.execute(
            update(links)
            .where(
                and_(
                    links.c.key_kind == key_kind,
                    maybe,
                    links.c.work_item_id.is_distinct_from(target),
                )
            )
            .values(work_item_id=target)
        )
        changed += int(result.rowcount or 0)
    return changed
