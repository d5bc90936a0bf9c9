"""Secret references: ``${ENV_VAR}`` or ``file:/path``, resolved at use.

A configuration never holds a secret value, only a reference to one. The
reference is checked when the configuration is validated (the variable is set,
the file is readable) but the value is read only when a connector or channel
needs it, and it is redacted in every dump, log line and report.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

_ENV = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
REDACTED = "**********"


class SecretResolutionError(ValueError):
    """A secret reference cannot be resolved (unset variable, unreadable file)."""


class SecretRef:
    """A reference to a secret; ``reveal()`` reads it, ``str()`` never shows it."""

    __slots__ = ("_base_dir", "reference")

    def __init__(self, reference: str, base_dir: Path | None = None) -> None:
        reference = reference.strip()
        if not (_ENV.match(reference) or reference.startswith("file:")):
            raise ValueError(
                "a secret must be a reference: ${ENV_VAR} or file:/path/to/secret, "
                "never the secret itself"
            )
        self.reference = reference
        self._base_dir = base_dir

    def _path(self) -> Path:
        path = Path(self.reference[len("file:") :]).expanduser()
        if not path.is_absolute() and self._base_dir is not None:
            path = self._base_dir / path
        return path

    def check(self) -> None:
        """Raise ``SecretResolutionError`` unless the reference can be resolved now."""
        self.reveal()

    def reveal(self) -> str:
        """Return the secret value; call it at the moment of use, never store it."""
        match = _ENV.match(self.reference)
        if match:
            value = os.environ.get(match.group(1))
            if value is None:
                raise SecretResolutionError(
                    f"environment variable {match.group(1)} is not set (secret {self.reference})"
                )
            return value
        path = self._path()
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as err:
            raise SecretResolutionError(
                f"secret file {path} cannot be read: {err.strerror}"
            ) from err

    def __repr__(self) -> str:
        return f"SecretRef({self.reference!r})"

    def __str__(self) -> str:
        return self.reference

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretRef) and other.reference == self.reference

    def __hash__(self) -> int:
        return hash(self.reference)


class _SecretRefAnnotation:
    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def validate(value: Any) -> SecretRef:
            if isinstance(value, SecretRef):
                return value
            if not isinstance(value, str):
                raise ValueError("a secret must be a string reference: ${ENV_VAR} or file:/path")
            return SecretRef(value)

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda v: v.reference, when_used="always"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "pattern": r"^(\$\{[A-Za-z_][A-Za-z0-9_]*\}|file:.+)$",
            "description": "A secret reference: ${ENV_VAR} or file:/path (never the value).",
        }


Secret = Annotated[SecretRef, _SecretRefAnnotation]
"""Use as a pydantic field type for any credential."""


def find_secrets(value: Any) -> list[SecretRef]:
    """Return every ``SecretRef`` inside a (nested) pydantic model, dict or list."""
    from pydantic import BaseModel

    found: list[SecretRef] = []
    if isinstance(value, SecretRef):
        found.append(value)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found.extend(find_secrets(getattr(value, name)))
    elif isinstance(value, dict):
        for item in value.values():
            found.extend(find_secrets(item))
    elif isinstance(value, list | tuple):
        for item in value:
            found.extend(find_secrets(item))
    return found
