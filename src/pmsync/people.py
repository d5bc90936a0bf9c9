"""People across tools: one person behind a Jira account, a GitHub login and an e-mail.

Every record that names someone (assignee, author, attendee) leaves an
*identity* row: (source, login) with the display name and e-mail the tool
showed. Linking ties identities to *people*:

1. the people configured in ``pmsync.yaml`` are upserted (keyed by their id);
2. an identity is theirs when one of their ``aliases`` for the identity's source
   name or connector type equals its login or e-mail, or else when their
   ``email`` equals the identity's e-mail (case-insensitive);
3. an identity nobody claims but that has an e-mail joins the person with that
   e-mail, created on first sight, so the same unconfigured colleague seen in
   Jira and in a calendar is still one person.

Identities with neither a claim nor an e-mail stay unlinked: guessing by
display name would merge namesakes. Linking is idempotent and cheap (a few
thousand identities), so it runs after every sync. Two syncs that end at
once (the daemon's per-source jobs, or replicas) take turns: on PostgreSQL
an advisory lock, as SQLite writers already do. Without it both could read
that a person is missing and both insert them; the second failed on the
unique key, and its job with it. It is the lock under which pages write
identities too (``pmsync.upsert.IDENTITY_LOCK``): linking updates every
source's identities while another source's pages may be upserting theirs,
and the two used to deadlock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select, update

from pmsync import model
from pmsync.config.settings import Person as ConfiguredPerson
from pmsync.store import Store
from pmsync.upsert import lock_identities


@dataclass(frozen=True)
class LinkResult:
    """How many identities linking touched."""

    linked: int
    unlinked: int
    people_created: int


def _norm(value: str | None) -> str | None:
    return value.strip().lower() if value else None


def link_people(
    store: Store,
    people: Sequence[ConfiguredPerson],
    source_types: Mapping[str, str],
) -> LinkResult:
    """Upsert configured people and link every identity to its person.

    ``source_types`` maps source names to connector types, so aliases may be
    keyed by either (``jira-cloud: [...]`` or ``jira: [...]``).
    """
    now = store.now()
    created = 0
    with store.session() as s:
        lock_identities(s.connection())
        existing = {
            p.key: p for p in s.scalars(select(model.Person).where(model.Person.key.isnot(None)))
        }
        by_key: dict[str, model.Person] = {}
        for person in people:
            row = existing.get(person.id)
            if row is None:
                row = model.Person(
                    key=person.id, name=person.name, email=_norm(person.email), created_at=now
                )
                s.add(row)
            else:
                row.name, row.email = person.name, _norm(person.email)
            by_key[person.id] = row
        s.flush()
        by_email: dict[str, model.Person] = {
            p.email: p
            for p in s.scalars(select(model.Person).where(model.Person.email.isnot(None)))
            if p.email
        }
        for person in people:  # configured people win an e-mail over auto-created ones
            if person.email:
                by_email[_norm(person.email) or ""] = by_key[person.id]
        source_names = {
            sid: name for sid, name in s.execute(select(model.Source.id, model.Source.name))
        }
        claims: dict[tuple[str, str], model.Person] = {}
        for person in people:
            for where, accounts in person.aliases.items():
                for account in accounts:
                    claims[(where, _norm(account) or "")] = by_key[person.id]

        identities = s.execute(
            select(
                model.Identity.id,
                model.Identity.source_id,
                model.Identity.login,
                model.Identity.email,
                model.Identity.display_name,
                model.Identity.person_id,
            )
        ).all()
        assignments: dict[int, int | None] = {}
        unlinked = 0
        for ident_id, source_id, login, email, display_name, current in identities:
            source = source_names.get(source_id, "")
            kinds = (source, source_types.get(source, ""))
            keys = [(k, v) for k in kinds for v in (_norm(login), _norm(email)) if k and v]
            owner = next((claims[k] for k in keys if k in claims), None)
            mail = _norm(email)
            if owner is None and mail:
                owner = by_email.get(mail)
                if owner is None:
                    owner = model.Person(
                        key=None, name=display_name or mail, email=mail, created_at=now
                    )
                    s.add(owner)
                    s.flush()
                    by_email[mail] = owner
                    created += 1
            if owner is None:
                unlinked += 1
            target = owner.id if owner is not None else None
            if target != current:
                assignments[ident_id] = target
        if assignments:
            s.execute(
                update(model.Identity),
                [{"id": i, "person_id": p} for i, p in assignments.items()],
            )
    return LinkResult(linked=len(identities) - unlinked, unlinked=unlinked, people_created=created)
