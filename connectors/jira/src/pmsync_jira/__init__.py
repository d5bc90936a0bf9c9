"""pmsync connector for Jira Cloud and Jira Data Center (library ``jira``).

What it pulls: issues (as work items, keyed by Jira's issue id so a moved issue
keeps its identity) with their status, estimate, assignee, fix-version, sprint
and story-point history; worklogs and worklog deletions through Jira's own
change feeds; and each project's fix versions as source milestones.

Why it is built this way: an unattended daemon must never miss an update, never
wait less than Jira asks, and never hold a secret longer than a request. So the
incremental search runs on ``updated`` in epoch milliseconds (immune to the bot
account's time zone) with an overlap window, every request is wrapped in
``pmsync.retry``, deletions are found by a periodic cheap listing of ids, and
the token is read from its reference only when the HTTP client is built.
Modules: ``settings`` (the model), ``client`` (HTTP boundary), ``jql`` (queries
and paging), ``mapping`` (JSON → records), ``streams`` (the pulls).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pmsync.connectors import Connector, ConnectorContext, ConnectorSettings, StreamSpec
from pmsync.errors import AuthenticationError, SourceError
from pmsync.records import Page
from pmsync.secrets import SecretResolutionError
from pmsync_jira.settings import JiraSettings

if TYPE_CHECKING:  # the jira library loads when a connector is created, not on import
    from pmsync_jira.client import JiraClient

__all__ = ["JiraConnector", "JiraSettings"]


class JiraConnector(Connector):
    """Jira issues, changelogs, worklogs and fix versions as pmsync records."""

    title: ClassVar[str] = "Jira"
    worker_modules: ClassVar[tuple[str, ...]] = ("pmsync_jira.client", "pmsync_jira.streams")
    settings_model: ClassVar[type[ConnectorSettings]] = JiraSettings
    streams: ClassVar[tuple[StreamSpec, ...]] = (
        StreamSpec(
            "issues",
            ("work_item", "work_item_change"),
            "issues updated since the cursor, with their field history; ids listed for deletions",
        ),
        StreamSpec("worklogs", ("worklog",), "worklogs created or changed (/worklog/updated)"),
        StreamSpec("worklog_deletions", ("deletion",), "worklogs deleted (/worklog/deleted)"),
        StreamSpec("versions", ("source_milestone",), "every project's fix versions"),
    )

    client: JiraClient

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        import pmsync_jira.streams  # noqa: F401  loaded now, while the engine creates connectors
        from pmsync_jira.client import JiraClient

        super().__init__(settings, context)
        assert isinstance(settings, JiraSettings)
        self.jira_settings = settings
        self.client = JiraClient(settings, context)

    def pull(
        self, stream: str, cursor: Mapping[str, Any] | None, *, full: bool = False
    ) -> Iterator[Page]:
        """Yield pages of ``stream`` changed since ``cursor`` (everything when ``full``)."""
        from pmsync_jira import streams

        self.stream(stream)
        s, c, client = self.jira_settings, self.context, self.client
        if stream == "issues":
            return streams.without_unknown_projects(
                s, lambda known, ok: streams.IssuePull(client, known, c).run(cursor, full, ok)
            )
        if stream == "worklogs":
            return streams.without_unknown_projects(
                s, lambda known, ok: streams.pull_worklogs(client, known, c, cursor, full, ok)
            )
        if stream == "worklog_deletions":
            return streams.pull_worklog_deletions(client, s, c, cursor, full)
        return streams.pull_versions(client, s)

    def check(self) -> list[str]:
        """Probe the site: credentials, flavour, projects and custom fields; one line each."""
        from pmsync_jira.client import flavour_of

        s = self.jira_settings
        try:
            me = self.client.get("myself")
        except SecretResolutionError as err:
            return [f"token: {err}"]
        except AuthenticationError as err:
            how = "e-mail + API token" if s.email else "personal access token"
            return [f"Jira at {s.url}: credentials refused ({how}): {err}"]
        except SourceError as err:
            return [f"Jira at {s.url} is not reachable: {err}"]
        problems: list[str] = []
        if not isinstance(me, dict) or not (me.get("accountId") or me.get("name")):
            problems.append(f"Jira at {s.url}: /myself does not describe a user")
        try:
            found = flavour_of(self.client.get("serverInfo"))
            if s.flavour != "auto" and found != s.flavour:
                problems.append(f"flavour is {s.flavour!r} but the server says {found!r}")
            if found == "cloud" and s.email is None:
                problems.append("Jira Cloud needs email together with an API token")
            for key in s.projects:
                try:
                    self.client.get(f"project/{key}")
                except SourceError as err:
                    problems.append(f"project {key}: not found or not browsable ({err})")
            _ids, missing = self.client.field_ids(s.fields)
            problems.extend(f"fields: no custom field named {m} in /field" for m in missing)
        except SourceError as err:
            problems.append(f"Jira at {s.url}: {err}")
        return problems

    def close(self) -> None:
        """Close the HTTP session."""
        self.client.close()

    @classmethod
    def sandbox_settings(cls, endpoints: Mapping[str, Any]) -> dict[str, Any] | None:
        """Return settings pointing at the sandbox's Jira (token as a file reference)."""
        jira = endpoints.get("jira")
        if not jira:
            return None
        settings: dict[str, Any] = {
            "url": jira["url"],
            "flavour": jira.get("flavour", "auto"),
            "token": "file:secrets/jira-token",
            "projects": list(jira.get("projects") or []),
        }
        if jira.get("email") and jira.get("flavour", "cloud") == "cloud":
            settings["email"] = jira["email"]
        if endpoints.get("ca_bundle"):
            settings["ca_bundle"] = endpoints["ca_bundle"]
        return settings

    @classmethod
    def sandbox_secrets(cls, endpoints: Mapping[str, Any]) -> dict[str, str]:
        """Return the sandbox's token under the file name the settings refer to."""
        jira = endpoints.get("jira")
        return {"jira-token": str(jira["token"])} if jira else {}
