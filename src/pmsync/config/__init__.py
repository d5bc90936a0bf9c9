"""pmsync's configuration: the single definition of every file an admin edits.

The public surface is re-exported here; the modules behind it are::

    types.py     value types shared by all files (durations, dates, cron, zones)
    settings.py  pmsync.yaml        sources.py  sources.yaml
    projects.py  projects/*.yaml    rules.py    rules.yaml
    costs.py     the non-labour costs CSV a project names
    checks.py    cross-checks (unique WBS codes, known people and sources)
    yamlsrc.py   YAML with line numbers     loader.py  load_config, Config
    export.py    JSON Schema, redacted dump, the ``pmsync init`` example
"""

from pmsync.config.costs import CostEntry, read_costs_csv
from pmsync.config.export import config_json_schema, redacted_dump, write_example
from pmsync.config.loader import Config, load_config
from pmsync.config.projects import (
    BusinessCase,
    CommunicationEntry,
    Deliverable,
    DeliverableSelector,
    MeetingCadence,
    Milestone,
    MilestoneSelector,
    Project,
    RateCardEntry,
    Risk,
)
from pmsync.config.rules import BuiltinRules, CustomRule, RulesConfig
from pmsync.config.settings import DaemonSettings, DatabaseSettings, Person, PmsyncSettings
from pmsync.config.sources import Source, SourceOptions
from pmsync.config.types import format_duration, parse_duration

__all__ = [
    "BuiltinRules",
    "BusinessCase",
    "CommunicationEntry",
    "Config",
    "CostEntry",
    "CustomRule",
    "DaemonSettings",
    "DatabaseSettings",
    "Deliverable",
    "DeliverableSelector",
    "MeetingCadence",
    "Milestone",
    "MilestoneSelector",
    "Person",
    "PmsyncSettings",
    "Project",
    "RateCardEntry",
    "Risk",
    "RulesConfig",
    "Source",
    "SourceOptions",
    "config_json_schema",
    "format_duration",
    "load_config",
    "parse_duration",
    "read_costs_csv",
    "redacted_dump",
    "write_example",
]
