"""The sandbox's Jira: Cloud (REST v2/v3) and Data Center imitations over a scenario.

``JiraService(scenario, clock, flavour="cloud"|"datacenter", user_time_zone=...)``
is a ``pmsync.sandbox.server.Service``; ``serve()`` runs it. Modules: ``service``
(routes, auth, search), ``handlers`` (worklogs, projects, metadata), ``jql``
(parser), ``search`` (evaluation), ``world`` (the clocked snapshot and indexes),
``payloads``/``changelog``/``fields`` (Jira's JSON shapes), ``worklogs`` (feeds).
"""

from pmsync.sandbox.jira.service import SANDBOX_TOKEN, JiraService

__all__ = ["SANDBOX_TOKEN", "JiraService"]
