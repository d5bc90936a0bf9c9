"""Fault injection, seen with plain HTTP against each imitated API.

Every kind is checked on Jira, GitHub and Google Calendar: the status and error
shape of each API, ``Retry-After`` in both forms, a connection reset in the
middle of a body, slow answers, bodies cut short or not JSON, listings that
shift between two page requests; and that a seed makes all of it repeatable
and ``paths`` confines it to the endpoints named.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import pytest
import requests
from werkzeug.test import Client

from pmsync.sandbox.app import Sandbox
from pmsync.sandbox.generate import generate
from pmsync.sandbox.scenario import Scenario
from pmsync.sandbox.server import FaultPlan

SERVICES = ("jira", "github", "calendar")


@pytest.fixture(scope="module")
def world() -> Scenario:
    return generate(projects=2, items=60, seed=4)


class Caller:
    """Plain-HTTP requests to one service of a running sandbox, with its credentials."""

    def __init__(self, box: Sandbox, name: str) -> None:
        self.box, self.name = box, name
        self.info = box.endpoints()[name]
        self.session = requests.Session()
        self.session.headers.update(self.auth())

    def auth(self) -> dict[str, str]:
        info = self.info
        if self.name == "jira":
            basic = base64.b64encode(f"{info['email']}:{info['token']}".encode()).decode()
            return {"Authorization": f"Basic {basic}"}
        if self.name == "github":
            return {"Authorization": f"token {info['token']}"}
        form = {k: info[k] for k in ("client_id", "client_secret", "refresh_token")}
        # the token endpoint is never faulted by these tests' plans (see listing_path)
        token = requests.post(
            info["token_uri"], data={"grant_type": "refresh_token", **form}, timeout=10
        ).json()["access_token"]
        return {"Authorization": f"Bearer {token}"}

    @property
    def listing_path(self) -> str:
        """Return the path of the paged listing this service is tested with."""
        if self.name == "jira":
            return "/rest/api/3/search/jql"
        if self.name == "github":
            return f"/repos/{self.info['repositories'][0]}/issues"
        calendar = busiest_calendar(self.box.scenario)
        return f"/calendar/v3/calendars/{quote(calendar, safe='')}/events"

    def params(self, size: int = 5) -> dict[str, Any]:
        if self.name == "jira":
            project = self.info["projects"][0]
            return {"jql": f"project = {project} ORDER BY key", "maxResults": size, "fields": "id"}
        if self.name == "github":
            return {"state": "all", "per_page": size, "sort": "created", "direction": "asc"}
        return {"maxResults": size}

    def listing(self, timeout: float = 10, **extra: Any) -> requests.Response:
        return self.session.get(
            self.info["url"] + self.listing_path,
            params={**self.params(), **extra},
            timeout=timeout,
        )

    def ids(self, answer: requests.Response) -> list[str]:
        body = answer.json()
        if self.name == "jira":
            return [i["id"] for i in body["issues"]]
        if self.name == "github":
            return [str(i["number"]) for i in body]
        return [e["id"] for e in body["items"]]

    def walk(self, pages: int, size: int) -> list[list[str]]:
        """Return the ids of the first ``pages`` pages of the listing, following its paging."""
        seen: list[list[str]] = []
        extra: dict[str, Any] = {}
        for number in range(1, pages + 1):
            if self.name == "github":
                extra = {"page": number}
            answer = self.session.get(
                self.info["url"] + self.listing_path,
                params={**self.params(size), **extra},
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
            seen.append(self.ids(answer))
            body = answer.json()
            if self.name == "jira":
                extra = {"nextPageToken": body["nextPageToken"]}
            elif self.name == "calendar":
                extra = {"pageToken": body["nextPageToken"]}
        return seen

    def stats(self) -> dict[str, Any]:
        answer = requests.get(self.info["url"] + "/_sandbox/stats", timeout=10)
        result: dict[str, Any] = answer.json()
        return result


def busiest_calendar(scenario: Scenario) -> str:
    return max(scenario.calendar.calendars, key=lambda c: len(c.events)).id


@pytest.fixture
def sandbox(world: Scenario) -> Iterator[Callable[[str], Sandbox]]:
    """Start sandboxes over the module's world with a fault spec; stop them afterwards."""
    started: list[Sandbox] = []

    def start(spec: str) -> Sandbox:
        box = Sandbox(world, faults=FaultPlan.parse(spec)).start()
        started.append(box)
        return box

    yield start
    for box in started:
        box.stop()


def only_listings(spec: str) -> str:
    """Confine ``spec`` to the listings (Calendar's token endpoint must keep working)."""
    return spec + ",paths=/rest/api+/repos+/calendar/v3"


def error_text(name: str, answer: requests.Response) -> str:
    body = answer.json()
    if name == "jira":
        return str(body["errorMessages"][0])
    if name == "github":
        assert body["documentation_url"].startswith("https://docs.github.com/")
        return str(body["message"])
    return str(body["error"]["errors"][0]["reason"])


# --- status faults ---------------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_come_in_each_apis_shape(sandbox, name: str, status: int) -> None:
    caller = Caller(sandbox(only_listings(f"rate=1,kinds={status}")), name)
    answer = caller.listing()
    assert answer.status_code == status
    assert error_text(name, answer)
    assert caller.stats()["faults"] == {str(status): 1}


def _rate_limit_answers(caller: Caller) -> list[requests.Response]:
    # Google answers quota errors as 403 rateLimitExceeded, 403 userRateLimitExceeded
    # or 429: the sandbox takes them in turn, only the 429 carries Retry-After.
    return [caller.listing() for _ in range(3 if caller.name == "calendar" else 1)]


@pytest.mark.parametrize("name", SERVICES)
def test_rate_limit_fault_sends_retry_after_in_seconds(sandbox, name: str) -> None:
    caller = Caller(sandbox(only_listings("rate=1,kinds=429,retry_after=7")), name)
    answers = _rate_limit_answers(caller)
    limited = answers[-1]
    # GitHub's secondary limit with seconds is a 403, as github.com sends it
    assert limited.status_code == (403 if name == "github" else 429)
    assert limited.headers["Retry-After"] == "7"
    if name == "calendar":
        assert [a.status_code for a in answers] == [403, 403, 429]
        assert [error_text(name, a) for a in answers] == [
            "rateLimitExceeded",
            "userRateLimitExceeded",
            "rateLimitExceeded",
        ]
    if name == "jira":
        assert limited.headers["X-RateLimit-Remaining"] == "0"


@pytest.mark.parametrize("name", SERVICES)
def test_rate_limit_fault_sends_retry_after_as_an_http_date(sandbox, name: str) -> None:
    caller = Caller(sandbox(only_listings("rate=1,kinds=429-date,retry_after=120")), name)
    limited = _rate_limit_answers(caller)[-1]
    assert limited.status_code == 429
    wait = parsedate_to_datetime(limited.headers["Retry-After"]) - datetime.now(UTC)
    assert timedelta(seconds=100) < wait <= timedelta(seconds=121)


# --- broken bodies ---------------------------------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_reset_cuts_the_connection_in_the_middle_of_the_body(sandbox, name: str) -> None:
    caller = Caller(sandbox(only_listings("rate=1,kinds=reset")), name)
    answer = caller.session.get(
        caller.info["url"] + caller.listing_path, params=caller.params(), stream=True, timeout=10
    )
    assert answer.status_code == 200  # the head arrived...
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="reset by peer"):
        answer.content  # ...the body did not  # noqa: B018
    assert caller.stats()["faults"] == {"reset": 1}


def _healthy_body(world: Scenario, caller: Caller) -> bytes:
    """Return the answer an unfaulted twin gives to the same request, at the same URL."""
    twin = Sandbox(world)
    service = twin.services[caller.name]
    if caller.name == "calendar":
        service.bind_base_url(caller.info["url"])  # type: ignore[attr-defined]
    client = Client(service)
    headers = dict(caller.session.headers)
    if caller.name == "calendar":
        form = {k: caller.info[k] for k in ("client_id", "client_secret", "refresh_token")}
        token = client.post("/token", data={"grant_type": "refresh_token", **form}).json
        headers["Authorization"] = f"Bearer {token['access_token']}"  # type: ignore[index]
    answer = client.get(
        caller.listing_path,
        query_string=caller.params(),
        headers=headers,
        base_url=caller.info["url"],
    )
    assert answer.status_code == 200
    return answer.get_data()


@pytest.mark.parametrize("name", SERVICES)
def test_truncated_json_is_the_first_half_of_the_real_answer(sandbox, world, name: str) -> None:
    caller = Caller(sandbox(only_listings("rate=1,kinds=truncated")), name)
    answer = caller.listing()
    healthy = _healthy_body(world, caller)
    assert answer.status_code == 200
    assert answer.content == healthy[: len(healthy) // 2]
    with pytest.raises(requests.exceptions.JSONDecodeError):
        answer.json()


@pytest.mark.parametrize("name", SERVICES)
def test_malformed_json_is_an_html_error_page_labelled_json(sandbox, name: str) -> None:
    caller = Caller(sandbox(only_listings("rate=1,kinds=malformed")), name)
    answer = caller.listing()
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.content.startswith(b"<html>")
    with pytest.raises(requests.exceptions.JSONDecodeError):
        answer.json()


@pytest.mark.parametrize("name", SERVICES)
def test_slow_answers_time_out_a_hurried_client_but_arrive(sandbox, name: str) -> None:
    caller = Caller(sandbox(only_listings("rate=1,kinds=slow,slow=0.6")), name)
    with pytest.raises(requests.exceptions.ReadTimeout):
        caller.listing(timeout=0.2)
    patient = caller.listing(timeout=10)
    assert patient.status_code == 200 and caller.ids(patient)
    assert caller.stats()["faults"] == {"slow": 2}


# --- listings that shift between two pages ---------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_shift_moves_the_second_page_by_one_item(sandbox, name: str) -> None:
    size = 4
    calm = Caller(sandbox(""), name).walk(3, size)
    flat = [i for page in calm for i in page]
    assert len(flat) == 3 * size and len(set(flat)) == len(flat)
    directions = set()
    for seed in range(6):
        caller = Caller(sandbox(only_listings(f"rate=1,kinds=shift,seed={seed}")), name)
        first, second = caller.walk(2, size)
        assert first == calm[0]  # a first page has nothing to shift against
        if second == flat[size - 1 : 2 * size - 1]:
            directions.add("repeats the previous page's last item")
        else:
            assert second == flat[size + 1 : 2 * size + 1]
            directions.add("skips one item")
        assert caller.stats()["faults"] == {"shift": 1}
    assert len(directions) == 2


def test_a_shift_persists_for_the_rest_of_the_listing(sandbox) -> None:
    size = 4
    calm = [i for page in Caller(sandbox(""), "github").walk(6, size) for i in page]
    # one rule shifts every later page; pages 2..4 then each move by one more item
    caller = Caller(sandbox(only_listings("rate=1,kinds=shift,seed=3")), "github")
    pages = caller.walk(4, size)
    moved = 0
    for number, page in enumerate(pages[1:], start=2):
        start = (number - 1) * size
        offsets = [s - start for s in range(start - 4, start + 5) if calm[s : s + size] == page]
        assert len(offsets) == 1 and abs(offsets[0] - moved) == 1
        moved = offsets[0]
    # starting the listing again starts it afresh
    assert caller.walk(1, size)[0] == calm[:size]


# --- determinism and scope -------------------------------------------------------------


def _statuses(caller: Caller, count: int) -> list[int]:
    return [caller.listing().status_code for _ in range(count)]


@pytest.mark.parametrize("name", SERVICES)
def test_the_same_seed_gives_the_same_faults(sandbox, name: str) -> None:
    spec = only_listings("rate=0.5,kinds=500+502+503+truncated,seed=11")
    first = _statuses(Caller(sandbox(spec), name), 16)
    again = _statuses(Caller(sandbox(spec), name), 16)
    other = _statuses(Caller(sandbox(spec.replace("seed=11", "seed=12")), name), 16)
    assert first == again
    assert first != other
    assert {200, 500, 502, 503} <= set(first)


def test_paths_confine_faults_to_the_endpoints_named(sandbox) -> None:
    box = sandbox("rate=1,kinds=503,paths=/rest/api/3/search/jql+/repos/*/commits")
    jira, github = Caller(box, "jira"), Caller(box, "github")
    assert jira.listing().status_code == 503
    assert jira.session.get(jira.info["url"] + "/rest/api/3/myself", timeout=10).ok
    repo = github.info["url"] + "/repos/" + github.info["repositories"][0]
    assert github.session.get(repo + "/commits", timeout=10).status_code == 503
    assert github.session.get(repo + "/issues", timeout=10).status_code == 200
    assert Caller(box, "calendar").listing().status_code == 200


def test_several_rules_each_decide_for_their_own_paths(sandbox) -> None:
    box = sandbox("rate=1,kinds=429,paths=/rest/api/3/search/jql;rate=1,kinds=500,paths=/rest")
    jira = Caller(box, "jira")
    assert jira.listing().status_code == 429
    assert jira.session.get(jira.info["url"] + "/rest/api/3/myself", timeout=10).status_code == 500
    assert Caller(box, "github").listing().status_code == 200


def test_control_endpoints_are_never_faulted_nor_counted(sandbox) -> None:
    box = sandbox("rate=1,kinds=500")
    url = box.endpoints()["github"]["url"]
    assert requests.get(url + "/_sandbox/clock", timeout=10).status_code == 200
    assert requests.post(url + "/_sandbox/advance", json={"hours": 1}, timeout=10).ok
    assert requests.get(url + "/_sandbox/stats", timeout=10).json()["requests"] == 0


def test_stats_count_every_answer_including_refused_credentials(sandbox) -> None:
    box = sandbox("")
    github = Caller(box, "github")
    repo = github.info["url"] + "/repos/" + github.info["repositories"][0]
    assert (
        requests.get(repo, headers={"Authorization": "token wrong"}, timeout=10).status_code == 401
    )
    assert github.session.get(repo, timeout=10).status_code == 200
    assert requests.get(github.info["url"] + "/no/such/thing", timeout=10).status_code == 404
    stats = github.stats()
    assert stats["served"] == {"get_repo": 2, "not_found": 1}
    assert stats["statuses"] == {"401": 1, "200": 1, "404": 1}
    assert stats["faults"] == {}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("rate=2", "between 0 and 1"),
        ("rate=often", "not a number"),
        ("kinds=429+teapot", "unknown fault kinds"),
        ("speed=3", "unknown fault spec key"),
        ("rate", "not key=value"),
        ("paths=repos", "must start with '/'"),
        ("slow=-1", "negative"),
    ],
)
def test_bad_fault_specs_are_refused_naming_the_part(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FaultPlan.parse(spec)


def test_a_spec_reads_back_every_setting() -> None:
    plan = FaultPlan.parse("rate=0.25,kinds=shift+reset,seed=9,paths=/a+/b,retry_after=3,slow=0.5")
    assert (plan.rate, plan.kinds, plan.seed, plan.paths) == (
        0.25,
        ("shift", "reset"),
        9,
        ("/a", "/b"),
    )
    assert (plan.retry_after, plan.slow_seconds, plan.also) == (3.0, 0.5, ())
    assert FaultPlan.parse("rate=1;rate=0.5,kinds=500").also == (
        FaultPlan(rate=0.5, kinds=("500",)),
    )
