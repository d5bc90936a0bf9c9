"""Messages from Jinja2 templates, escaped for the channel that carries them.

Alert text comes from issue titles, people's names and milestone names, i.e.
from anyone who can type into Jira or GitHub, so every value a template prints
is escaped for its channel, never only the ones a template author remembered:

* ``html`` (e-mail): Jinja's autoescaping; links only for http(s) URLs.
* ``slack`` (mrkdwn): ``&``, ``<`` and ``>`` become entities (Slack's three
  control characters: this disarms ``<!channel>``, ``<@U123>`` and
  ``<http://x|links>``); Slack has no escape for ``*_~``` `` so a zero-width
  space after each keeps ``*x*`` literal without changing what people read.
* ``teams`` (Adaptive Card Markdown): CommonMark backslash escapes for the
  characters that format, link or quote (``* _ ~ ` [ ] ( ) < > # | \\``).
* ``plain`` (e-mail text part, webhook ``text``, titles): nothing to escape;
  line breaks inside values become spaces, so no value can forge a header.

Every ``{{ value }}`` passes through the channel's escaper (Jinja's
``finalize``); the ``link`` filter returns markup that is already safe. Admins
override a template by putting a file of the same name in
``<config dir>/templates/alerts/``; templates run in Jinja's sandbox and an
undefined name is an error (the message then waits and is retried, so fixing
the template loses nothing).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

Flavour = Literal["plain", "html", "slack", "teams"]
TEMPLATES = {
    "title": ("title.txt.j2", "plain"),
    "text": ("message.txt.j2", "plain"),
    "html": ("message.html.j2", "html"),
    "slack": ("slack.mrkdwn.j2", "slack"),
    "teams": ("teams.md.j2", "teams"),
}
SEVERITY_ICON = {"critical": "🔴", "warning": "🟠", "info": "🔵"}
_ZWSP = "\u200b"
_SLACK_FORMAT = re.compile(r"([*_~`@])")
_TEAMS_FORMAT = re.compile(r"([\\*_~`\[\]()<>#|!])")


class Trusted(str):
    """Text a filter has already made safe for its channel."""

    __slots__ = ()


def flat(text: str) -> str:
    """Return ``text`` with every run of whitespace (line breaks too) as one space."""
    return " ".join(str(text).split())


def slack_escape(text: str) -> str:
    """Escape ``text`` for Slack mrkdwn: entities for ``&<>``, formatting disarmed."""
    text = flat(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SLACK_FORMAT.sub(lambda m: m.group(1) + _ZWSP, text)


def teams_escape(text: str) -> str:
    """Escape ``text`` for Adaptive Card Markdown with backslashes."""
    text = _TEAMS_FORMAT.sub(r"\\\1", flat(text))
    # A value that starts a line must not start a list or a heading.
    return re.sub(r"^([-+]|\d+\.)(\s)", r"\\\1\2", text)


def safe_url(url: Any) -> str | None:
    """Return ``url`` if it is an absolute http(s) URL without spaces, else None."""
    if not isinstance(url, str) or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def _link_plain(url: Any, text: str | None = None) -> str:
    good = safe_url(url)
    label = flat(text) if text else ""
    if good is None:
        return label
    return f"{label} <{good}>" if label else good


def _link_html(url: Any, text: str | None = None) -> Markup:
    good = safe_url(url)
    label = text or good or ""
    if good is None:
        return escape(label)
    return Markup('<a href="{}">{}</a>').format(good, label)


def _link_slack(url: Any, text: str | None = None) -> Trusted:
    good = safe_url(url)
    label = slack_escape(text or good or "")
    if good is None:
        return Trusted(label)
    target = good.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return Trusted(f"<{target}|{label}>")


def _link_teams(url: Any, text: str | None = None) -> Trusted:
    good = safe_url(url)
    label = teams_escape(text or good or "")
    if good is None:
        return Trusted(label)
    return Trusted(f"[{label}]({quote(good, safe=':/?#&=%+@!$,;~*.-_')})")


_LINKS: dict[str, Callable[..., str]] = {
    "plain": _link_plain,
    "html": _link_html,
    "slack": _link_slack,
    "teams": _link_teams,
}
_ESCAPERS: dict[str, Callable[[str], str]] = {
    "plain": flat,
    "slack": slack_escape,
    "teams": teams_escape,
}


def figure(value: Any) -> str:
    """Format an evidence figure: floats with at most two decimals."""
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


class Templates:
    """The alert templates of one installation: the admin's overrides, then the built-in ones."""

    def __init__(self, override_dir: Path | None, timezone: str = "UTC") -> None:
        loaders: list[jinja2.BaseLoader] = []
        if override_dir is not None and override_dir.is_dir():
            loaders.append(jinja2.FileSystemLoader(override_dir))
        loaders.append(jinja2.PackageLoader("pmsync", "templates/alerts"))
        self._loader = jinja2.ChoiceLoader(loaders)
        self._zone = ZoneInfo(timezone)
        self._envs: dict[str, jinja2.Environment] = {}

    def _env(self, flavour: Flavour) -> jinja2.Environment:
        if flavour not in self._envs:
            escaper = _ESCAPERS.get(flavour)

            def finalize(value: Any) -> Any:
                if value is None:
                    return ""
                if escaper is None or isinstance(value, Trusted):
                    return value
                return Trusted(escaper(str(value)))

            env = SandboxedEnvironment(
                loader=self._loader,
                autoescape=flavour == "html",
                finalize=finalize,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=False,
            )
            env.filters.update(
                link=_LINKS[flavour], figure=figure, when=self.when, safe_url=safe_url
            )
            self._envs[flavour] = env
        return self._envs[flavour]

    def when(self, value: str | datetime | None) -> str:
        """Format a timestamp in the installation's time zone (``2025-03-04 09:30 CET``)."""
        if not value:
            return ""
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(self._zone).strftime("%Y-%m-%d %H:%M %Z")

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        """Render template ``name`` (a key of ``TEMPLATES``) with ``context``."""
        filename, flavour = TEMPLATES[name]
        template = self._env(flavour).get_template(filename)  # type: ignore[arg-type]
        rendered = template.render(**context)
        return re.sub(r"\n{3,}", "\n\n", rendered).strip()


def paragraphs(text: str, limit: int) -> list[str]:
    """Split rendered text at blank lines into pieces of at most ``limit`` characters."""
    pieces = []
    for part in (p.strip("\n") for p in text.split("\n\n")):
        while len(part) > limit:
            cut = part.rfind("\n", 0, limit)
            cut = cut if cut > 0 else limit
            pieces.append(part[:cut])
            part = part[cut:].lstrip("\n")
        if part.strip():
            pieces.append(part)
    return pieces
