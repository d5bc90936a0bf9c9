"""HTTPS: each imitation over TLS, trusted through the CA bundle ``serve --tls`` prints.

Every service is reached with its real client library given only the bundle,
and a client without the bundle must be refused, as it would be by a server
whose certificate it cannot verify.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import github
import google_auth_httplib2
import httplib2
import jira
import pytest
import requests
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build

from pmsync.sandbox.app import Sandbox
from pmsync.sandbox.generate import generate


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A generated world served over HTTPS with a throwaway CA."""
    world = generate(projects=2, items=40, seed=3)
    box = Sandbox(world, tls_dir=tmp_path_factory.mktemp("tls")).start()
    try:
        yield box
    finally:
        box.stop()


def _ca(box: Sandbox) -> str:
    return str(box.endpoints()["ca_bundle"])


def test_every_service_is_https_and_the_bundle_is_a_pem_file(https: Sandbox) -> None:
    endpoints = https.endpoints()
    for name in ("jira", "github", "calendar"):
        assert endpoints[name]["url"].startswith("https://127.0.0.1:")
    bundle = Path(endpoints["ca_bundle"])
    assert bundle.is_absolute()
    assert bundle.read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_jira_library_searches_over_https_with_the_bundle(https: Sandbox) -> None:
    info = https.endpoints()["jira"]
    client = jira.JIRA(
        server=info["url"],
        basic_auth=(info["email"], info["token"]),
        options={"verify": _ca(https)},
        max_retries=0,
    )
    project = info["projects"][0]
    found = client.enhanced_search_issues(f"project = {project} ORDER BY key", maxResults=10)
    assert found and all(issue.key.startswith(f"{project}-") for issue in found)
    assert client.server_info()["deploymentType"] == "Cloud"


def test_pygithub_lists_issues_milestones_and_commits_over_https(https: Sandbox) -> None:
    info = https.endpoints()["github"]
    client = github.Github(
        auth=github.Auth.Token(info["token"]),
        base_url=info["url"],
        verify=_ca(https),
        retry=0,
        seconds_between_requests=None,
    )
    repo = client.get_repo(info["repositories"][0])
    assert repo.get_issues(state="all").totalCount > 0
    assert [m.title for m in repo.get_milestones(state="all")]
    assert len(repo.get_commits().get_page(0)) > 0


def _calendar(box: Sandbox, http: httplib2.Http) -> Any:
    info = box.endpoints()["calendar"]
    credentials = Credentials(
        token=None,
        refresh_token=info["refresh_token"],
        token_uri=info["token_uri"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
    )
    authorized = google_auth_httplib2.AuthorizedHttp(credentials, http=http)
    return build(
        "calendar",
        "v3",
        http=authorized,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": info["api_endpoint"]},
    )


def test_google_client_lists_events_over_https_with_the_bundle(https: Sandbox) -> None:
    calendar_id = https.endpoints()["calendar"]["calendars"][0]
    client = _calendar(https, httplib2.Http(ca_certs=_ca(https), timeout=10))
    page = client.events().list(calendarId=calendar_id, maxResults=5).execute()
    assert page["kind"] == "calendar#events" and page["items"]


def test_a_client_without_the_bundle_is_refused(https: Sandbox) -> None:
    endpoints = https.endpoints()
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        requests.get(endpoints["jira"]["url"] + "/rest/api/3/serverInfo", timeout=10)
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        github.Github(
            auth=github.Auth.Token(endpoints["github"]["token"]),
            base_url=endpoints["github"]["url"],
            retry=0,
        ).get_repo(endpoints["github"]["repositories"][0])
    with pytest.raises(ssl.SSLCertVerificationError):
        _calendar(https, httplib2.Http(timeout=10)).events().list(
            calendarId=endpoints["calendar"]["calendars"][0]
        ).execute()


def test_the_server_keeps_serving_after_a_refused_handshake(https: Sandbox) -> None:
    url = https.endpoints()["jira"]["url"] + "/_sandbox/clock"
    for _ in range(3):
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(url, timeout=10)
    with requests.Session() as session:
        answers = [session.get(url, verify=_ca(https), timeout=10) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]


@pytest.mark.parametrize("secure", [False, True])
def test_one_connection_serves_request_after_request(https: Sandbox, secure: bool) -> None:
    box = https if secure else Sandbox(https.scenario).start()
    try:
        port = box.running["github"].port
        if secure:
            context = ssl.create_default_context(cafile=_ca(box))
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", port, context=context, timeout=10
            )
        else:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for path in ("/_sandbox/clock", "/rate_limit", "/_sandbox/stats", "/no/such/route"):
            connection.request("GET", path)  # raises if the server had closed the connection
            answer = answer_of(connection)
            assert answer.getheader("Connection") is None  # kept alive
            assert answer.status in (200, 404)
        connection.close()
    finally:
        if box is not https:
            box.stop()


def answer_of(connection: http.client.HTTPConnection) -> http.client.HTTPResponse:
    answer = connection.getresponse()
    answer.read()
    return answer
