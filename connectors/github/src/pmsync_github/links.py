"""Find the references that link GitHub records to work items.

Why here: linking itself happens in the core, across tools, but only the
GitHub connector knows that ``#12`` in ``acme/portal`` means ``acme/portal#12``.
So it resolves bare references to full keys and finds Jira keys with the
admin's patterns; the core only matches strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pmsync_github.settings import GitHubSettings


@dataclass(frozen=True, slots=True)
class References:
    """What a text mentions: Jira keys, GitHub issue keys, and the issues it closes."""

    jira_keys: tuple[str, ...] = ()
    issues: tuple[str, ...] = ()
    """``owner/repo#n`` keys, bare ``#n`` resolved against the record's repository."""
    closes: tuple[str, ...] = ()

    def as_custom(self) -> dict[str, list[str]]:
        """Return the non-empty lists, for ``WorkItem.custom``."""
        out = {"jira_keys": self.jira_keys, "references": self.issues, "closes": self.closes}
        return {k: list(v) for k, v in out.items() if v}


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


class ReferenceFinder:
    """Compiled patterns of one source's settings."""

    def __init__(self, settings: GitHubSettings) -> None:
        self.key_patterns = [re.compile(p) for p in settings.key_patterns]
        self.issue_ref = re.compile(settings.issue_ref_pattern)
        self.closing = re.compile(settings.closing_pattern)

    def _issue_key(self, repository: str, match: re.Match[str]) -> str:
        groups = match.groupdict()
        repo = groups.get("repo") or repository
        return f"{repo}#{int(groups['number'])}"

    def find(self, repository: str, *texts: str | None) -> References:
        """Return the references in ``texts`` (titles, bodies, messages, branch names)."""
        jira: list[str] = []
        issues: list[str] = []
        closes: list[str] = []
        for text in texts:
            if not text:
                continue
            for pattern in self.key_patterns:
                jira.extend(m.group(0) for m in pattern.finditer(text))
            issues.extend(self._issue_key(repository, m) for m in self.issue_ref.finditer(text))
            for match in self.closing.finditer(text):
                for ref in self.issue_ref.finditer(match.group("ref")):
                    closes.append(self._issue_key(repository, ref))
        return References(_unique(jira), _unique(issues), _unique(closes))
