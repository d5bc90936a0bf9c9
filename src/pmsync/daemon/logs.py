"""The daemon's logs: JSON lines for machines, short text for people, never a secret.

Not on a terminal (systemd's journal, a container's stdout, a file) the daemon
writes one JSON object per line: ``ts`` (UTC, ISO 8601), ``level``, ``logger``,
``message``, then the event's own fields (``event``, ``source``, ``stream``,
``status``, ``run_id``, ...), and ``exception`` with the traceback when there is
one. On a terminal it writes ``time level logger: message key=value``.
``daemon.log_format`` forces one or the other.

Secrets are kept out of messages by construction (the config holds references;
errors print URLs through ``store.redact``). As a last line of defence the
handler's formatter also replaces every secret value the configuration
resolves to, in its raw and JSON-escaped forms, by ``***``: a library that puts
a token into an exception message cannot leak it through the log.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

from pydantic import BaseModel

from pmsync.secrets import SecretRef

_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
MASK = "***"
_QUIET = {
    "apscheduler": logging.ERROR,
    "alembic": logging.WARNING,
    "werkzeug": logging.WARNING,
    "urllib3": logging.WARNING,
}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line."""
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update(_extras(record))
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time level logger: message key=value`` for a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one readable line (plus a traceback, if any)."""
        text = super().format(record)
        fields = " ".join(f"{k}={v}" for k, v in _extras(record).items() if k != "event")
        if fields:
            head, sep, rest = text.partition("\n")
            text = f"{head} [{fields}]{sep}{rest}"
        return text


class Scrubbed(logging.Formatter):
    """Wrap a formatter and mask every known secret value in what it writes."""

    def __init__(self, inner: logging.Formatter, values: Iterable[str] = ()) -> None:
        super().__init__()
        self.inner = inner
        self.set_secrets(values)

    def set_secrets(self, values: Iterable[str]) -> None:
        """Replace the values to mask (after a config reload)."""
        forms: set[str] = set()
        for value in values:
            if len(value) >= 4:  # shorter "secrets" would mask ordinary words
                forms.add(value)
                forms.add(json.dumps(value, ensure_ascii=False)[1:-1])
                forms.add(json.dumps(value)[1:-1])
        self._forms = sorted(forms, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """Return ``text`` with every secret masked."""
        for form in self._forms:
            text = text.replace(form, MASK)
        return text

    def format(self, record: logging.LogRecord) -> str:
        """Format with the inner formatter, then mask."""
        return self.scrub(self.inner.format(record))


def secret_values(*roots: Any) -> set[str]:
    """Return the values of every secret reference found in config objects (best effort)."""
    found: set[str] = set()
    for ref in _walk(roots, set()):
        try:
            found.add(ref.reveal())
        except Exception:  # unresolvable now: nothing to mask
            continue
    return found


def _walk(value: Any, seen: set[int]) -> Iterator[SecretRef]:
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, SecretRef):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name), seen)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk(item, seen)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _walk(item, seen)
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            yield from _walk(getattr(value, name), seen)


def configure_logging(
    log_format: str, level: str, secrets: Iterable[str] = (), stream: IO[str] | None = None
) -> Scrubbed:
    """Send every log record to ``stream`` (stderr) in the chosen format; return the formatter."""
    stream = stream or sys.stderr
    as_json = log_format == "json" or (log_format == "auto" and not stream.isatty())
    formatter = Scrubbed(JsonFormatter() if as_json else TextFormatter(), secrets)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    set_level(level)
    return formatter


def set_level(level: str) -> None:
    """Set the daemon's log level (quieting chatty libraries at info)."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    for name, floor in _QUIET.items():
        logging.getLogger(name).setLevel(max(floor, root.level))
