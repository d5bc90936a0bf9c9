"""Non-labour costs from a CSV file: invoices, licences, hardware.

Finance keeps these in a spreadsheet, so the format is the one a spreadsheet
exports: a header row, then one cost per row. The file is checked with the
rest of the configuration (every bad row reported with its line number) and
read again by the metrics at use, so an edit is picked up without a restart.

Columns: ``date`` (ISO), ``amount`` (decimal point, no thousands separator;
negative for a credit note), ``category``, and optionally ``vendor``,
``deliverable`` (a WBS code of the project) and ``description``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from pmsync.errors import ConfigError, ConfigProblem

REQUIRED_COLUMNS = ("date", "amount", "category")
OPTIONAL_COLUMNS = ("vendor", "deliverable", "description")


@dataclass(frozen=True, slots=True)
class CostEntry:
    """One non-labour cost of a project."""

    date: date
    amount: Decimal
    category: str
    vendor: str
    deliverable: str | None
    description: str
    line: int
    """The line in the CSV file, for messages that point back at it."""


def read_costs_csv(
    path: Path,
    *,
    display: str | None = None,
    deliverable_codes: Collection[str] | None = None,
) -> list[CostEntry]:
    """Read and validate a costs CSV; raise ``ConfigError`` listing every bad line.

    ``display`` is the file name used in messages (default: ``path``);
    ``deliverable_codes``, when given, are the WBS codes a row may name.
    """
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # spreadsheets like to add a BOM
    except OSError as err:
        raise ConfigError([ConfigProblem(name, f"cannot be read: {err.strerror}")]) from err
    except UnicodeDecodeError as err:
        raise ConfigError([ConfigProblem(name, f"is not UTF-8 text: {err.reason}")]) from err
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    problems: list[ConfigProblem] = []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing:
        problems.append(ConfigProblem(name, f"missing column(s): {', '.join(missing)}", 1))
    if unknown:
        allowed = ", ".join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
        problems.append(
            ConfigProblem(name, f"unknown column(s): {', '.join(unknown)} (allowed: {allowed})", 1)
        )
    if problems:
        raise ConfigError(problems)
    entries: list[CostEntry] = []
    for row in reader:
        line = reader.line_num
        values = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        if None in row:
            problems.append(ConfigProblem(name, "more fields than columns in the header", line))
            continue
        if not any(values.values()):
            continue  # blank lines at the end of an export
        row_problems: list[ConfigProblem] = []
        try:
            day = date.fromisoformat(values["date"])
        except ValueError:
            row_problems.append(
                ConfigProblem(
                    name, f"{values['date']!r} is not an ISO date (YYYY-MM-DD)", line, "date"
                )
            )
        try:
            amount = Decimal(values["amount"])
            if not amount.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            row_problems.append(
                ConfigProblem(
                    name,
                    f"{values['amount']!r} is not an amount (digits and a decimal point)",
                    line,
                    "amount",
                )
            )
        if not values["category"]:
            row_problems.append(ConfigProblem(name, "a category is required", line, "category"))
        code = values.get("deliverable") or None
        if code and deliverable_codes is not None and code not in deliverable_codes:
            row_problems.append(
                ConfigProblem(
                    name,
                    f"no deliverable with WBS code {code!r} in the project",
                    line,
                    "deliverable",
                )
            )
        if row_problems:
            problems.extend(row_problems)
            continue
        entries.append(
            CostEntry(
                date=day,
                amount=amount,
                category=values["category"],
                vendor=values.get("vendor", ""),
                deliverable=code,
                description=values.get("description", ""),
                line=line,
            )
        )
    if problems:
        raise ConfigError(problems)
    return entries
