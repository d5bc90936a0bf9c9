"""Jira's error answers and request-parameter checks, shared by the handlers."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Response

from pmsync.sandbox.server import json_response


def jira_error(status: int, *messages: str, headers: dict[str, str] | None = None) -> Response:
    """Return Jira's error shape ``{"errorMessages": [...], "errors": {}}``."""
    return json_response({"errorMessages": list(messages), "errors": {}}, status, headers)


class BadRequest(Exception):
    """The request is refused with 400 and this message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(Exception):
    """The requested issue or project does not exist (404)."""


def int_param(value: Any, name: str, default: int) -> int:
    """Return an integer parameter, or raise BadRequest naming it."""
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"The '{name}' parameter must be a number.") from None
