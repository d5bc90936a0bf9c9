"""The sandbox's imitation of the GitHub REST API (github.com and Enterprise ``/api/v3``).

Public surface: ``GitHubService`` and ``SANDBOX_TOKEN``; see ``service`` for the
behaviour it reproduces and ``world`` for how it stays fast at scale.
"""

from pmsync.sandbox.github.handlers import GitHubService
from pmsync.sandbox.github.service import SANDBOX_TOKEN

__all__ = ["SANDBOX_TOKEN", "GitHubService"]
