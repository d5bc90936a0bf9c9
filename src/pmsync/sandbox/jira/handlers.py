"""Jira's worklog, project and metadata endpoints (a mixin of ``JiraService``).

Worklogs page with ``startAt``/``maxResults``/``total``; the change feeds follow
``/worklog/updated`` and ``/worklog/deleted`` as documented; ``/myself`` reports
the searching user's ``timeZone`` (the zone JQL dates are read in) and
``/serverInfo`` the ``deploymentType`` clients use to pick their search API.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.wrappers import Request, Response

from pmsync.sandbox.jira import fields, payloads
from pmsync.sandbox.jira.common import BadRequest, NotFound, int_param
from pmsync.sandbox.jira.worklogs import FeedEntry, WorklogFeeds
from pmsync.sandbox.jira.world import IssueView, JiraData, Snapshot, epoch_ms
from pmsync.sandbox.scenario import JiraProject, Person
from pmsync.sandbox.server import SandboxClock, json_response

PROJECT_PAGE = 50
"""``/project/search`` gives 50 projects a page by default and at most (JRACLOUD-84803)."""
PROJECT_EXPANDS = ("description", "lead", "issueTypes", "url", "projectKeys", "insight")
CLOUD_VERSION = ("1001.0.0-SNAPSHOT", [1001, 0, 0], 100294)
DC_VERSION = ("9.12.15", [9, 12, 15], 9120015)
WORKLOG_PAGE = 5000
WORKLOG_LIST_MAX = 1000


class JiraMetadataHandlers:
    """Handlers for everything but search and issues; ``JiraService`` supplies the rest."""

    data: JiraData
    zone: ZoneInfo
    bot: Person
    clock: SandboxClock
    _worklog_ids: dict[str, str]

    @property
    def cloud(self) -> bool:  # pragma: no cover - provided by JiraService
        raise NotImplementedError

    def snapshot(self) -> Snapshot:  # pragma: no cover - provided by JiraService
        raise NotImplementedError

    def feeds(self) -> WorklogFeeds:  # pragma: no cover - provided by JiraService
        raise NotImplementedError

    def context(self, request: Request, api: str) -> payloads.Context:  # pragma: no cover
        raise NotImplementedError

    def _not_found_guard(self, work: Callable[[], Response]) -> Response:  # pragma: no cover
        raise NotImplementedError

    # --- worklogs --------------------------------------------------------------------

    def issue_worklogs(self, request: Request, api: str, id_or_key: str) -> Response:
        """Page through an issue's worklogs (oldest first), optionally by start time."""

        def work() -> Response:
            view = self._view(id_or_key)
            ctx = self.context(request, api)
            args = request.args
            start = max(int_param(args.get("startAt"), "startAt", 0), 0)
            size = min(
                max(int_param(args.get("maxResults"), "maxResults", WORKLOG_PAGE), 0), WORKLOG_PAGE
            )
            after = int_param(args.get("startedAfter"), "startedAfter", 0)
            before = int_param(args.get("startedBefore"), "startedBefore", 1 << 62)
            chosen = [w for w in view.worklogs if after <= epoch_ms(w.started) < before]
            return json_response(
                {
                    "startAt": start,
                    "maxResults": size,
                    "total": len(chosen),
                    "worklogs": [
                        payloads.worklog_json(w, view.id_num, ctx)
                        for w in chosen[start : start + size]
                    ],
                }
            )

        return self._not_found_guard(work)

    def _view(self, id_or_key: str) -> IssueView:
        view = self.snapshot().find(id_or_key)
        if view is None:
            raise NotFound("Issue does not exist or you do not have permission to see it.")
        return view

    def _feed(self, request: Request, api: str, kind: str) -> Response:
        def work() -> Response:
            since = max(int_param(request.args.get("since"), "since", 0), 0)
            feeds, now = self.feeds(), self.snapshot().now
            entries, last = (feeds.updated if kind == "updated" else feeds.deleted)(since, now)
            return json_response(self._feed_page(request, api, kind, since, entries, last))

        return self._not_found_guard(work)

    def _feed_page(
        self,
        request: Request,
        api: str,
        kind: str,
        since: int,
        entries: list[FeedEntry],
        last: bool,
    ) -> dict[str, Any]:
        rest = self.context(request, api).rest
        until = entries[-1].updated_ms if entries else since
        page: dict[str, Any] = {
            "values": [
                {"worklogId": e.worklog_id, "updatedTime": e.updated_ms, "properties": []}
                for e in entries
            ],
            "since": since,
            "until": until,
            "self": f"{rest}/worklog/{kind}?since={since}",
        }
        if not last:
            page["nextPage"] = f"{rest}/worklog/{kind}?since={until}"
        page["lastPage"] = last
        return page

    def worklogs_updated(self, request: Request, api: str) -> Response:
        """List worklogs created or changed since an epoch-ms instant (1000 a page)."""
        return self._feed(request, api, "updated")

    def worklogs_deleted(self, request: Request, api: str) -> Response:
        """List worklogs deleted since an epoch-ms instant (1000 a page)."""
        return self._feed(request, api, "deleted")

    def worklog_list(self, request: Request, api: str) -> Response:
        """Return the worklogs with the given ids (at most 1000; unknown ids are skipped)."""

        def work() -> Response:
            body = request.get_json(silent=True)
            ids = body.get("ids") if isinstance(body, dict) else None
            if not isinstance(ids, list):
                raise BadRequest(
                    "Invalid request payload. Refer to the REST API documentation and try again."
                )
            if len(ids) > WORKLOG_LIST_MAX:
                raise BadRequest(
                    f"The number of worklogs requested exceeds the limit of {WORKLOG_LIST_MAX}."
                )
            snap, ctx = self.snapshot(), self.context(request, api)
            result = []
            for raw in ids:
                wid = self._worklog_ids.get(str(raw))
                owner = self.data.worklog_owner.get(wid) if wid else None
                view = snap.views.get(owner) if owner is not None else None
                if view is None:
                    continue
                for worklog in view.worklogs:
                    if worklog.spec.id == wid:
                        result.append(payloads.worklog_json(worklog, view.id_num, ctx))
            return json_response(result)

        return self._not_found_guard(work)

    # --- projects --------------------------------------------------------------------

    def _project(self, key: str) -> JiraProject:
        found = self.data.projects.get(key.upper()) or self.data.project_by_id.get(key)
        if found is None:
            raise NotFound(f"No project could be found with key '{key}'.")
        return found

    def _versions(self, request: Request, api: str, project: JiraProject) -> list[Any]:
        ctx, now = self.context(request, api), self.snapshot().now
        return [
            payloads.version_json(project, v, now, ctx)
            for v in project.versions
            if v.visible_at(now)
        ]

    def _project_entry(
        self, project: JiraProject, ctx: payloads.Context, expand: set[str]
    ) -> dict[str, Any]:
        """Return a project as the project listings give it, with the ``expand`` asked for."""
        if "*" in expand:
            expand = set(PROJECT_EXPANDS)
        entry = payloads.project_json(project, ctx)
        entry.update(style="classic", isPrivate=False, properties={})
        if "description" in expand:
            entry["description"] = ""
        if "lead" in expand:
            entry["lead"] = payloads.person_json(project.lead, ctx)
        if "issueTypes" in expand:
            entry["issueTypes"] = [
                payloads.issuetype_json(n, ctx) for n in ("Epic", "Story", "Task", "Bug")
            ]
        if "projectKeys" in expand:
            entry["projectKeys"] = [project.key]
        if "insight" in expand:
            snap = self.snapshot()
            views = [snap.views[i] for i in snap.by_project.get(project.key.upper(), ())]
            insight: dict[str, Any] = {"totalIssueCount": len(views)}
            if views:
                latest = max(views, key=lambda v: v.updated_ms)
                insight["lastIssueUpdateTime"] = payloads.jira_time(latest.updated, ctx.zone)
            entry["insight"] = insight
        return entry

    @staticmethod
    def _expands(request: Request) -> set[str]:
        return {e.strip() for item in request.args.getlist("expand") for e in item.split(",") if e}

    @staticmethod
    def _many(request: Request, name: str) -> set[str]:
        return {
            v.strip() for item in request.args.getlist(name) for v in item.split(",") if v.strip()
        }

    def projects(self, request: Request, api: str) -> Response:
        """Return every project, unpaged (``GET /project``; Cloud keeps it beside the search)."""

        def work() -> Response:
            ctx, expand = self.context(request, api), self._expands(request)
            chosen = sorted(self.data.projects.values(), key=lambda p: p.key)
            return json_response([self._project_entry(p, ctx, expand) for p in chosen])

        return self._not_found_guard(work)

    def project_search(self, request: Request, api: str) -> Response:
        """Page through the projects (Cloud's ``GET /project/search``).

        ``startAt``, ``maxResults`` (≤ 50), ``orderBy`` (``key`` by default; ``name``,
        ``owner``, ``category``, ``issueCount``, ``lastIssueUpdatedDate``, each with
        ``+``/``-``), ``id``, ``keys``, ``query`` (key or name, case-insensitive),
        ``typeKey``, ``status`` (``live`` by default) and ``expand``; the page is
        ``{self, nextPage, maxResults, startAt, total, isLast, values}``. Data
        Center has no such resource: the path names a project called "search".
        """
        if not self.cloud:
            return self.project(request, api, "search")

        def work() -> Response:
            args, ctx = request.args, self.context(request, api)
            chosen = list(self.data.projects.values())
            ids = self._many(request, "id")
            if ids:
                chosen = [p for p in chosen if p.id in ids]
            keys = {k.upper() for k in self._many(request, "keys")}
            if keys:
                chosen = [p for p in chosen if p.key.upper() in keys]
            text = (args.get("query") or "").lower()
            if text:
                chosen = [p for p in chosen if text in p.key.lower() or text in p.name.lower()]
            types = self._many(request, "typeKey")
            if types and "software" not in types:
                chosen = []
            statuses = self._many(request, "status")
            if statuses and "live" not in statuses:
                chosen = []
            self._order_projects(chosen, args.get("orderBy") or "key")
            start = max(int_param(args.get("startAt"), "startAt", 0), 0)
            size = min(max(int_param(args.get("maxResults"), "maxResults", PROJECT_PAGE), 0), 50)
            last = start + size >= len(chosen)
            url = f"{ctx.rest}/project/search"
            page: dict[str, Any] = {"self": f"{url}?startAt={start}&maxResults={size}"}
            if not last:
                page["nextPage"] = f"{url}?startAt={start + size}&maxResults={size}"
            expand = self._expands(request)
            page.update(
                {
                    "maxResults": size,
                    "startAt": start,
                    "total": len(chosen),
                    "isLast": last,
                    "values": [
                        self._project_entry(p, ctx, expand) for p in chosen[start : start + size]
                    ],
                }
            )
            return json_response(page)

        return self._not_found_guard(work)

    def _order_projects(self, chosen: list[JiraProject], order: str) -> None:
        field, descending = order.lstrip("+-"), order.startswith("-")
        chosen.sort(key=lambda p: p.key)
        if field in ("issueCount", "lastIssueUpdatedDate"):
            snap = self.snapshot()

            def activity(p: JiraProject) -> int:
                found = snap.by_project.get(p.key.upper(), set())
                if field == "issueCount":
                    return len(found)
                return max((snap.views[i].updated_ms for i in found), default=0)

            chosen.sort(key=activity, reverse=descending)
        elif field == "name":
            chosen.sort(key=lambda p: p.name.lower(), reverse=descending)
        elif field == "owner":
            people = self.data.people
            chosen.sort(
                key=lambda p: people[p.lead].name.lower() if p.lead in people else p.lead,
                reverse=descending,
            )
        elif field == "key":
            chosen.sort(key=lambda p: p.key, reverse=descending)
        # category, archivedDate, deletedDate: no project has one; the key order stands

    def project(self, request: Request, api: str, key: str) -> Response:
        """Return a project with its lead, components, issue types and versions."""

        def work() -> Response:
            found = self._project(key)
            result = payloads.project_json(found, self.context(request, api), full=True)
            result["versions"] = self._versions(request, api, found)
            return json_response(result)

        return self._not_found_guard(work)

    def project_versions(self, request: Request, api: str, key: str) -> Response:
        """Return every fix version of a project, unpaged."""
        return self._not_found_guard(
            lambda: json_response(self._versions(request, api, self._project(key)))
        )

    def project_version_page(self, request: Request, api: str, key: str) -> Response:
        """Page through a project's versions, filtered by ``status`` and ``query``."""

        def work() -> Response:
            args = request.args
            versions = self._versions(request, api, self._project(key))
            statuses = {s.strip() for s in (args.get("status") or "").split(",") if s.strip()}
            if statuses:
                versions = [
                    v
                    for v in versions
                    if ("archived" in statuses and v["archived"])
                    or ("released" in statuses and v["released"] and not v["archived"])
                    or ("unreleased" in statuses and not v["released"] and not v["archived"])
                ]
            text = (args.get("query") or "").lower()
            if text:
                versions = [
                    v
                    for v in versions
                    if text in v["name"].lower() or text in v["description"].lower()
                ]
            order = args.get("orderBy") or ""
            field = order.lstrip("+-")
            if field in ("name", "releaseDate", "startDate"):
                versions.sort(key=lambda v: str(v.get(field) or ""), reverse=order.startswith("-"))
            start = max(int_param(args.get("startAt"), "startAt", 0), 0)
            size = min(max(int_param(args.get("maxResults"), "maxResults", 50), 1), 50)
            last = start + size >= len(versions)
            url = f"{self.context(request, api).rest}/project/{key}/version"
            page: dict[str, Any] = {"self": f"{url}?maxResults={size}&startAt={start}"}
            if not last:
                page["nextPage"] = f"{url}?maxResults={size}&startAt={start + size}"
            page.update(
                {
                    "maxResults": size,
                    "startAt": start,
                    "total": len(versions),
                    "isLast": last,
                    "values": versions[start : start + size],
                }
            )
            return json_response(page)

        return self._not_found_guard(work)

    # --- metadata --------------------------------------------------------------------

    def field(self, request: Request, api: str) -> Response:
        """List the system fields and the Story Points custom field."""
        return json_response(fields.field_catalogue(self.data.story_points_field))

    def myself(self, request: Request, api: str) -> Response:
        """Describe the authenticated user, with the time zone JQL dates are read in."""
        ctx = self.context(request, api)
        user = payloads.user_json(self.bot, ctx) or {}
        user["timeZone"] = self.zone.key
        user["locale"] = "en_US"
        user["groups"] = {"size": 1, "items": []}
        user["applicationRoles"] = {"size": 1, "items": []}
        user["expand"] = "groups,applicationRoles"
        return json_response(user)

    def server_info(self, request: Request, api: str) -> Response:
        """Describe the server; ``deploymentType`` is ``Cloud`` or ``Server``."""
        version, numbers, build = CLOUD_VERSION if self.cloud else DC_VERSION
        now = self.clock.now()
        return json_response(
            {
                "baseUrl": request.host_url.rstrip("/"),
                "version": version,
                "versionNumbers": numbers,
                "deploymentType": "Cloud" if self.cloud else "Server",
                "buildNumber": build,
                "buildDate": f"{date(2026, 1, 1)}T00:00:00.000+0000",
                "serverTime": payloads.jira_time(now, self.zone),
                "scmInfo": "pmsync-sandbox",
                "serverTitle": "Jira",
                "defaultLocale": {"locale": "en_US"},
            }
        )
