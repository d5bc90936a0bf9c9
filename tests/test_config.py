"""The configuration as an admin meets it: every mistake reported at its line, once.

Bad inputs are a table: each row writes one broken file into an otherwise valid
config directory and names the exact ``file:line: key: message`` lines that
``pmsync config validate`` must print. Fake connectors stand in for the real
ones so that connector-specific keys are validated by their own model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from worlds import SANDBOX_SECRETS

from pmsync.config import (
    Config,
    config_json_schema,
    load_config,
    read_costs_csv,
    redacted_dump,
    write_example,
)
from pmsync.config.types import parse_duration
from pmsync.connectors import Connector, ConnectorSettings, StreamSpec, load_connectors
from pmsync.errors import ConfigError
from pmsync.records import Page
from pmsync.secrets import Secret

REPO = Path(__file__).resolve().parents[1]
TOKEN_VALUE = "s3cr3t-token-value-never-shown"


class FakeTrackerSettings(ConnectorSettings):
    url: str
    token: Secret
    projects: list[str] = []


class FakeTracker(Connector):
    settings_model = FakeTrackerSettings
    streams = (StreamSpec("issues", ("work_item",)),)

    def pull(
        self, stream: str, cursor: Mapping[str, Any] | None, *, full: bool = False
    ) -> Iterator[Page]:
        yield from ()


class FakeCalendarSettings(ConnectorSettings):
    calendars: list[str]
    credentials: Secret


class FakeCalendar(FakeTracker):
    settings_model = FakeCalendarSettings


REGISTRY: dict[str, type[Connector]] = {"tracker": FakeTracker, "calendar": FakeCalendar}

PMSYNC = """\
timezone: Europe/Berlin
people:
  - id: ann
    name: Ann
    email: ann@example.com
    role: developer
    aliases: {tracker: [ann@example.com]}
receivers:
  team:
    type: slack
    webhook_url: ${TEST_SLACK_URL}
"""

SOURCES = """\
sources:
  tracker:
    type: tracker
    interval: 10m
    url: https://tracker.example.com
    token: ${TEST_TRACKER_TOKEN}
"""

PROJECT = """\
key: DEMO
name: Demo
manager: ann
start: 2025-01-01
finish: 2025-12-31
budget_at_completion: 1000
milestones:
  - name: One
    due: 2025-06-30
    match:
      - jira_fix_version: {source: tracker, name: "1.0"}
deliverables:
  - code: "1"
    name: Everything
    children:
      - code: "1.1"
        name: Part
        planned_start: 2025-01-01
        planned_finish: 2025-03-31
        planned_cost: 500
"""

RULES = """\
builtin:
  spi_low: {warning: 0.95}
"""


@pytest.fixture(autouse=True)
def _secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_TRACKER_TOKEN", TOKEN_VALUE)
    monkeypatch.setenv("TEST_SLACK_URL", "https://hooks.slack.example/T/B/" + TOKEN_VALUE)
    monkeypatch.delenv("PMSYNC_DATABASE_URL", raising=False)


def write_config(root: Path, **overrides: str | None) -> Path:
    """Write a valid config dir under ``root``; keyword args replace (or drop) files."""
    files = {
        "pmsync.yaml": PMSYNC,
        "sources.yaml": SOURCES,
        "projects/demo.yaml": PROJECT,
        "rules.yaml": RULES,
    }
    for name, text in overrides.items():
        files[name.replace("__", "/").replace("_yaml", ".yaml").replace("_csv", ".csv")] = text
    config = root / "cfg"
    for name, text in files.items():
        if text is None:
            continue
        (config / name).parent.mkdir(parents=True, exist_ok=True)
        (config / name).write_text(text, encoding="utf-8")
    return config


def problems_of(config: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(config, REGISTRY)
    return [str(p) for p in caught.value.problems]


def test_valid_config_loads_with_connector_settings(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path), REGISTRY)
    source = config.sources["tracker"]
    assert source.connector is FakeTracker
    assert isinstance(source.settings, FakeTrackerSettings)
    assert source.settings.token.reveal() == TOKEN_VALUE
    assert source.options.interval == parse_duration("10m")
    assert config.projects["DEMO"].milestones[0].match[0].jira_fix_version is not None
    assert config.rules.for_project("DEMO").spi_low.warning == 0.95
    assert config.rules.for_project("DEMO").spi_low.critical == 0.8  # kept from the defaults


BAD_INPUTS = [
    pytest.param(
        {"pmsync_yaml": PMSYNC + "databse:\n  url: sqlite:///x.db\n"},
        [
            "cfg/pmsync.yaml:12: databse: unknown key; did you mean 'database'? "
            "(allowed: daemon, database, meetings, people, receivers, routing, timezone)"
        ],
        id="unknown key",
    ),
    pytest.param(
        {
            "pmsync_yaml": PMSYNC.replace(
                "role: developer", "role: developer\n    weekly_capacity_hours: lots"
            )
        },
        [
            "cfg/pmsync.yaml:7: people[0].weekly_capacity_hours: "
            "Input should be a valid number, unable to parse string as a number"
        ],
        id="wrong type",
    ),
    pytest.param(
        {"projects__demo_yaml": PROJECT.replace("    due: 2025-06-30\n", "")},
        ["cfg/projects/demo.yaml:8: milestones[0].due: required key is missing"],
        id="missing required key",
    ),
    pytest.param(
        {"sources_yaml": SOURCES.replace("TEST_TRACKER_TOKEN", "UNSET_TRACKER_TOKEN")},
        [
            "cfg/sources.yaml:6: sources.tracker.token: environment variable UNSET_TRACKER_TOKEN "
            "is not set (secret ${UNSET_TRACKER_TOKEN})"
        ],
        id="missing secret env var",
    ),
    pytest.param(
        {"sources_yaml": SOURCES.replace("${TEST_TRACKER_TOKEN}", "file:secrets/missing.txt")},
        [
            "cfg/sources.yaml:6: sources.tracker.token: secret file cfg/secrets/missing.txt "
            "cannot be read: No such file or directory"
        ],
        id="unreadable secret file",
    ),
    pytest.param(
        {"sources_yaml": SOURCES.replace("${TEST_TRACKER_TOKEN}", TOKEN_VALUE)},
        [
            "cfg/sources.yaml:6: sources.tracker.token: a secret must be a reference: "
            "${ENV_VAR} or file:/path/to/secret, never the secret itself"
        ],
        id="literal secret refused",
    ),
    pytest.param(
        {"rules_yaml": "builtin:\n  spi_low: {warning: 0.9\n"},
        [
            "cfg/rules.yaml:3: YAML syntax error: while parsing a flow mapping "
            "expected ',' or '}', but got '<stream end>'"
        ],
        id="yaml syntax error",
    ),
    pytest.param(
        {"projects__demo_yaml": PROJECT + "      - {code: '1.1', name: Twin}\n"},
        [
            "cfg/projects/demo.yaml:21: deliverables[0].children[1].code: "
            "WBS code '1.1' is used twice (also at deliverables[0].children[0])"
        ],
        id="duplicate wbs code",
    ),
    pytest.param(
        {
            "projects__demo_yaml": PROJECT + "communication:\n  - audience: team\n"
            "    schedule: '0 25 * * *'\n    recipients: [ann@example.com]\n"
        },
        [
            "cfg/projects/demo.yaml:23: communication[0].schedule: '0 25 * * *' is not a valid "
            "cron expression: Error validating expression '25': the last value (25) is higher "
            "than the maximum value (23)"
        ],
        id="bad cron",
    ),
    pytest.param(
        {"sources_yaml": SOURCES.replace("type: tracker", "type: jirra")},
        [
            "cfg/sources.yaml:3: sources.tracker.type: no connector 'jirra' is installed "
            "(installed: calendar, tracker); install it or set enabled: false"
        ],
        id="unknown source type",
    ),
    pytest.param(
        {"sources_yaml": SOURCES + "    projct: [X]\n"},
        [
            "cfg/sources.yaml:7: sources.tracker.projct: unknown key; did you mean 'projects'? "
            "(allowed: cron, enabled, full_every, interval, jitter, projects, status_map, "
            "token, type, url)"
        ],
        id="unknown connector key",
    ),
    pytest.param(
        {"sources_yaml": SOURCES.replace("interval: 10m", "interval: 10 minutes")},
        [
            "cfg/sources.yaml:4: sources.tracker.interval: '10 minutes' is not a duration: "
            "use 90s, 15m, 1h, 1h30m, 1d, 2w or a number of seconds"
        ],
        id="bad duration",
    ),
    pytest.param(
        {
            "projects__demo_yaml": PROJECT.replace("manager: ann", "manager: bob").replace(
                "source: tracker", "source: jira"
            )
        },
        [
            "cfg/projects/demo.yaml:3: manager: unknown person 'bob' (people in pmsync.yaml: ann)",
            "cfg/projects/demo.yaml:11: milestones[0].match[0].jira_fix_version.source: "
            "unknown source 'jira' (sources.yaml defines: tracker)",
        ],
        id="unknown references",
    ),
    pytest.param(
        {"projects__demo_yaml": PROJECT.replace("due: 2025-06-30", "due: 2025-02-30")},
        [
            "cfg/projects/demo.yaml:9: milestones[0].due: '2025-02-30' is not a valid ISO date "
            "(YYYY-MM-DD): day is out of range for month"
        ],
        id="impossible date",
    ),
    pytest.param(
        {"pmsync_yaml": PMSYNC + "timezone: UTC\n"},
        ["cfg/pmsync.yaml:12: timezone: duplicate key (first defined at line 1)"],
        id="duplicate yaml key",
    ),
    pytest.param(
        {"projects__demo_yaml": PROJECT.replace("planned_cost: 500", "planned_cost: 5000")},
        [
            "cfg/projects/demo.yaml:6: budget_at_completion: the deliverables plan 5000 EUR, "
            "more than the budget at completion 1000 (planned value cannot exceed BAC)"
        ],
        id="plan above budget",
    ),
    pytest.param(
        {"rules_yaml": "builtin:\n  cpi_low: {critical: 0.95}\nprojects:\n  NOPE: {}\n"},
        [
            "cfg/rules.yaml:2: builtin.cpi_low: critical must not be above warning "
            "(lower is worse)",
            "cfg/rules.yaml:4: projects.NOPE: unknown project 'NOPE' (projects: DEMO)",
        ],
        id="contradicting thresholds and unknown project",
    ),
    pytest.param(
        {"pmsync_yaml": None},
        ["cfg/pmsync.yaml: file is missing (see pmsync init)"],
        id="missing pmsync.yaml",
    ),
    pytest.param(
        {
            "pmsync_yaml": PMSYNC.replace("timezone: Europe/Berlin", "timezone: Europe/Berlinn"),
            "sources_yaml": SOURCES + "  cal:\n    type: calendar\n    calendars: [a]\n",
            "projects__demo_yaml": PROJECT.replace("name: Demo\n", ""),
            "rules_yaml": "custom:\n  - {name: Bad Name, expression: x, summary: s}\n",
        },
        [
            "cfg/pmsync.yaml:1: timezone: unknown time zone 'Europe/Berlinn' "
            "(use an IANA name like Europe/Berlin)",
            "cfg/sources.yaml:7: sources.cal.credentials: required key is missing",
            "cfg/projects/demo.yaml:1: name: required key is missing",
            "cfg/rules.yaml:2: custom[0].name: String should match pattern '^[a-z][a-z0-9_]*$'",
        ],
        id="several errors in several files all reported",
    ),
]


@pytest.mark.parametrize(("files", "expected"), BAD_INPUTS)
def test_bad_config_reports_each_problem_at_its_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    files: dict[str, str | None],
    expected: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    write_config(tmp_path, **files)
    assert problems_of(Path("cfg")) == expected


def test_missing_config_dir_is_one_clear_problem(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "nowhere") == [
        f"{tmp_path}/nowhere: configuration directory does not exist (see pmsync init)"
    ]


def test_relative_secret_file_resolves_against_the_config_dir(tmp_path: Path) -> None:
    config_dir = write_config(
        tmp_path, sources_yaml=SOURCES.replace("${TEST_TRACKER_TOKEN}", "file:secrets/token")
    )
    (config_dir / "secrets").mkdir()
    (config_dir / "secrets" / "token").write_text(TOKEN_VALUE + "\n")
    config = load_config(config_dir, REGISTRY)
    settings = config.sources["tracker"].settings
    assert isinstance(settings, FakeTrackerSettings)
    assert settings.token.reveal() == TOKEN_VALUE


def test_disabled_source_of_uninstalled_type_is_kept_unvalidated(tmp_path: Path) -> None:
    extra = "  later:\n    type: jira\n    enabled: false\n    token: " + TOKEN_VALUE + "\n"
    config = load_config(write_config(tmp_path, sources_yaml=SOURCES + extra), REGISTRY)
    assert config.sources["later"].settings is None
    dumped = json.dumps(redacted_dump(config))
    assert TOKEN_VALUE not in dumped
    assert TOKEN_VALUE not in repr(config)


def test_secrets_never_appear_in_dump_or_repr(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path), REGISTRY)
    dumped = json.dumps(redacted_dump(config))
    assert TOKEN_VALUE not in dumped
    assert TOKEN_VALUE not in repr(config)
    assert TOKEN_VALUE not in str(config.sources["tracker"].settings)
    assert "${TEST_TRACKER_TOKEN}" in dumped  # the reference is what an admin needs to see


def test_costs_csv_errors_name_their_lines(tmp_path: Path) -> None:
    config_dir = write_config(
        tmp_path,
        projects__demo_yaml=PROJECT + "costs_csv: costs.csv\n",
        costs_csv="date,amount,category,vendor,deliverable\n"
        "2025-02-01,100.50,licence,ACME,1.1\n"
        "2025-13-01,12,licence,ACME,\n"
        "2025-03-01,1.000,00,hardware,ACME,1.1\n"
        "2025-03-02,abc,,ACME,9.9\n",
    )
    problems = problems_of(config_dir)
    csv = f"{config_dir}/costs.csv"
    assert problems == [
        f"{csv}:3: date: '2025-13-01' is not an ISO date (YYYY-MM-DD)",
        f"{csv}:4: more fields than columns in the header",
        f"{csv}:5: amount: 'abc' is not an amount (digits and a decimal point)",
        f"{csv}:5: category: a category is required",
        f"{csv}:5: deliverable: no deliverable with WBS code '9.9' in the project",
    ]


def test_costs_csv_reads_amounts_exactly(tmp_path: Path) -> None:
    path = tmp_path / "costs.csv"
    path.write_text("date,amount,category\n2025-01-02,0.10,licence\n2025-01-03,-0.10,credit\n")
    entries = read_costs_csv(path)
    assert [str(e.amount) for e in entries] == ["0.10", "-0.10"]
    assert sum(e.amount for e in entries) == 0
    assert entries[1].line == 3


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("15m", 900),
        ("1h", 3600),
        ("1h30m", 5400),
        ("1d", 86400),
        ("2w", 1209600),
        (45, 45),
        ("30", 30),
    ],
)
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


def test_committed_config_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    # the demo config refers to the sandbox's credentials through the environment
    for name in SANDBOX_SECRETS:
        monkeypatch.setenv(name, "sandbox-value")
    config = load_config(REPO / "config", load_connectors())
    assert set(config.projects) == {"PAY", "CRM", "MOB"}
    assert set(config.sources) == {"jira", "github", "gcal", "ics"}
    assert len(config.costs("PAY")) == 3


def test_committed_config_names_each_missing_sandbox_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in SANDBOX_SECRETS:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError) as caught:
        load_config(REPO / "config", load_connectors())
    assert {p.key for p in caught.value.problems} == {
        "sources.jira.token",
        "sources.github.token",
        "sources.gcal.credentials.client_secret",
        "sources.gcal.credentials.refresh_token",
    }


def test_database_url_reveals_the_password_only_at_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_DB_PASSWORD", "pw")
    database = "database:\n  url: postgresql+psycopg://pm@db/pm\n  password: ${TEST_DB_PASSWORD}\n"
    config = load_config(write_config(tmp_path, pmsync_yaml=PMSYNC + database), REGISTRY)
    assert config.database_url == "postgresql+psycopg://pm:pw@db/pm"
    assert "pw@" not in json.dumps(redacted_dump(config))
    monkeypatch.setenv("PMSYNC_DATABASE_URL", "sqlite:///other.db")
    assert config.database_url == "sqlite:///other.db"


def test_example_written_by_init_validates_and_is_never_overwritten(tmp_path: Path) -> None:
    dest = tmp_path / "new"
    written = write_example(dest)
    assert dest / "pmsync.yaml" in written and dest / "projects" / "example.yaml" in written
    for registry in (REGISTRY, load_connectors()):  # fake connectors, then the installed ones
        config = load_config(dest, registry)
        assert "PORTAL" in config.projects
    assert {s.type for s in config.sources.values()} == {"jira", "github", "gcal", "ics"}
    before = (dest / "rules.yaml").read_text()
    (dest / "rules.yaml").write_text(before + "# my edit\n")
    with pytest.raises(ConfigError, match=r"new/pmsync.yaml: already exists"):
        write_example(dest)
    assert (dest / "rules.yaml").read_text().endswith("# my edit\n")


def test_json_schema_describes_every_file(tmp_path: Path) -> None:
    schema = config_json_schema(REGISTRY)
    json.dumps(schema)  # serialisable as is
    assert schema["$schema"].startswith("https://json-schema.org/")
    defs = schema["$defs"]
    assert set(schema["properties"]) == {
        "pmsync.yaml",
        "sources.yaml",
        "projects/*.yaml",
        "rules.yaml",
    }
    for ref in schema["properties"].values():
        assert ref["$ref"].removeprefix("#/$defs/") in defs
    assert all("title" in d for d in defs.values() if d.get("type") == "object")
    assert defs["Project"]["additionalProperties"] is False
    assert "due" in defs["Milestone"]["required"]
    tracker = defs["TrackerSource"]
    assert tracker["properties"]["type"]["const"] == "tracker"
    assert {"token", "url", "interval"} <= set(tracker["properties"])
    entry = defs["SourcesFile"]["properties"]["sources"]["additionalProperties"]
    assert {"$ref": "#/$defs/TrackerSource"} in entry["oneOf"]


def test_config_is_one_immutable_object(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path), REGISTRY)
    assert isinstance(config, Config)
    with pytest.raises(ValueError, match="frozen"):
        config.projects["DEMO"].name = "changed"  # type: ignore[misc]


def _node_lines(node: Any) -> list[tuple[str, int, int]]:
    """Every node of a tree as (type, line, column), depth first."""
    found = [(type(node).__name__, node.start_mark.line, node.start_mark.column)]
    if isinstance(node.value, list):
        for item in node.value:
            for part in item if isinstance(item, tuple) else (item,):
                found.extend(_node_lines(part))
    return found


@pytest.mark.parametrize(
    "path",
    sorted(
        p.relative_to(REPO)
        for folder in ("config", "src/pmsync/init_template")
        for p in (REPO / folder).rglob("*.yaml")
    ),
    ids=str,
)
def test_libyaml_reads_each_shipped_file_as_the_python_parser_does(path: Path) -> None:
    """The fast parser may only be faster: the same data, nodes and lines, file by file."""
    import yaml

    from pmsync.config import yamlsrc

    if yamlsrc._FastLoader is None:
        pytest.skip("PyYAML without libyaml: only the Python parser runs")
    text = (REPO / path).read_text(encoding="utf-8")
    fast = yaml.compose(text, Loader=yamlsrc._FastLoader)
    slow = yaml.compose(text, Loader=yamlsrc._Loader)
    assert _node_lines(fast) == _node_lines(slow)
    assert yaml.load(text, Loader=yamlsrc._FastLoader) == yaml.load(text, Loader=yamlsrc._Loader)
