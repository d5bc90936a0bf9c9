"""``rules.yaml``: thresholds of the built-in rules, per-project overrides, custom rules.

The rules engine owns the logic; this module owns the numbers an admin tunes.
Every built-in rule has sensible defaults, so an empty ``rules.yaml`` (or none)
is a working configuration. Per-project overrides name only what differs and
inherit the rest from the global values (``RulesConfig.for_project``). Custom
rule expressions are CEL; they are compiled and checked against the documented
metric fields by the rules engine (``pmsync.rules.custom``) while this file is
validated, so a typo is reported at its line by ``pmsync config validate``.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Self

from pydantic import Field, ValidationInfo, create_model, field_validator, model_validator

from pmsync.config.types import Severity, StrictModel


class _Rule(StrictModel):
    enabled: bool = True


class DaysThreshold(_Rule):
    """Fires when a number of days reaches ``warning_days`` / ``critical_days``."""

    warning_days: int = Field(ge=0)
    critical_days: int = Field(ge=0)

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.critical_days < self.warning_days:
            raise ValueError("critical_days must be at least warning_days")
        return self


class DaysBeforeDue(_Rule):
    """Fires when a due date is ``warning_days`` away, critical at ``critical_days``."""

    warning_days: int = Field(ge=0)
    critical_days: int = Field(ge=0)

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.critical_days > self.warning_days:
            raise ValueError("critical_days must not exceed warning_days (nearer is worse)")
        return self


class LowRatio(_Rule):
    """Fires when an index falls below ``warning`` / ``critical`` (1.0 = on plan)."""

    warning: float = Field(gt=0)
    critical: float = Field(gt=0)

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.critical > self.warning:
            raise ValueError("critical must not be above warning (lower is worse)")
        return self


class HighPercent(_Rule):
    """Fires when a percentage rises above ``warning_pct`` / ``critical_pct``."""

    warning_pct: float = Field(ge=0)
    critical_pct: float = Field(ge=0)

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.critical_pct < self.warning_pct:
            raise ValueError("critical_pct must be at least warning_pct (higher is worse)")
        return self


class HighRatio(_Rule):
    """Fires when an index rises to ``warning`` / ``critical`` (1.0 = on plan)."""

    warning: float = Field(gt=0)
    critical: float = Field(gt=0)

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.critical < self.warning:
            raise ValueError("critical must be at least warning (higher is worse)")
        return self


class AnnualBurn(HighPercent):
    """Fires when a fiscal year's spend reaches N % of its budget, or runs ahead of the year."""

    ahead_pct: float = Field(
        ge=0, description="Warn when spent % exceeds elapsed % of the year by this many points."
    )


class LeaveInFinalDays(HighPercent):
    """Fires when a key person is away for N % of a milestone's final working days."""

    final_days: int = Field(ge=1, description="Working days up to and including the due date.")


class StaleAfter(_Rule):
    """Fires when a source has had no successful sync for N of its sync intervals."""

    warning_intervals: float = Field(gt=0)
    critical_intervals: float = Field(gt=0)

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.critical_intervals < self.warning_intervals:
            raise ValueError("critical_intervals must be at least warning_intervals")
        return self


class SeverityRule(_Rule):
    """Fires with a fixed severity when its condition holds."""

    severity: Severity = "warning"


class BuiltinRules(StrictModel):
    """The built-in rules and their thresholds (docs/rules.md explains each)."""

    milestone_slip: DaysThreshold = Field(
        default=DaysThreshold(warning_days=3, critical_days=10),
        description="Forecast (P85) or current date of a milestone later than its baseline "
        "due date by N days.",
    )
    milestone_overdue: DaysThreshold = Field(
        default=DaysThreshold(warning_days=1, critical_days=7),
        description="Days past a milestone's due date with work still open.",
    )
    due_probability_low: LowRatio = Field(
        default=LowRatio(warning=0.7, critical=0.5),
        description="Monte Carlo probability of meeting a milestone's due date.",
    )
    spi_t_low: LowRatio = Field(
        default=LowRatio(warning=0.9, critical=0.8),
        description="Schedule performance index in time, SPI(t) = ES / AT.",
    )
    spi_low: LowRatio = Field(
        default=LowRatio(warning=0.9, critical=0.8, enabled=False),
        description="Schedule performance index EV / PV (off by default: SPI(t) says it better).",
    )
    cpi_low: LowRatio = Field(
        default=LowRatio(warning=0.9, critical=0.8), description="Cost performance index."
    )
    eac_over_budget: HighPercent = Field(
        default=HighPercent(warning_pct=5, critical_pct=15),
        description="Forecast overrun: -VAC / BAC, the estimate at completion above the budget.",
    )
    tcpi_unrealistic: HighRatio = Field(
        default=HighRatio(warning=1.1, critical=1.2),
        description="To-complete performance index (BAC) the rest of the work would need.",
    )
    spend_ahead_of_progress: HighPercent = Field(
        default=HighPercent(warning_pct=10, critical_pct=20),
        description="Budget spent (AC / BAC) ahead of work done (EV / BAC), in points.",
    )
    annual_budget_overrun: AnnualBurn = Field(
        default=AnnualBurn(warning_pct=90, critical_pct=100, ahead_pct=15),
        description="Actual cost of the fiscal year as % of its annual budget.",
    )
    scope_growth: HighPercent = Field(
        default=HighPercent(warning_pct=10, critical_pct=25),
        description="Growth of a milestone's scope since the baseline.",
    )
    unapproved_plan_change: SeverityRule = Field(
        default=SeverityRule(), description="Plan dates or budget changed after the baseline."
    )
    no_throughput: DaysThreshold = Field(
        default=DaysThreshold(warning_days=5, critical_days=10),
        description="Working days without a finished item while work is in progress.",
    )
    ageing_items: DaysThreshold = Field(
        default=DaysThreshold(warning_days=10, critical_days=20),
        description="Work items in progress for N days.",
    )
    unassigned_near_due: DaysBeforeDue = Field(
        default=DaysBeforeDue(warning_days=14, critical_days=7),
        description="Unassigned work in a milestone due within N days.",
    )
    unestimated_near_due: DaysBeforeDue = Field(
        default=DaysBeforeDue(warning_days=14, critical_days=7),
        description="Unestimated work in a milestone due within N days.",
    )
    blocked_items: DaysThreshold = Field(
        default=DaysThreshold(warning_days=3, critical_days=7),
        description="Work items blocked for N days.",
    )
    risk_exposure_high: HighPercent = Field(
        default=HighPercent(warning_pct=5, critical_pct=15),
        description="Exposure of the open risks (probability x impact) as % of the budget.",
    )
    risk_review_overdue: DaysThreshold = Field(
        default=DaysThreshold(warning_days=0, critical_days=14),
        description="Days past a risk's next_review.",
    )
    missing_status_meeting: DaysThreshold = Field(
        default=DaysThreshold(warning_days=2, critical_days=7),
        description="Days past the expected date of a meeting in the cadence.",
    )
    key_people_on_leave: LeaveInFinalDays = Field(
        default=LeaveInFinalDays(final_days=5, warning_pct=50, critical_pct=100),
        description="Share of a milestone's final working days a key person is away.",
    )
    overload: HighPercent = Field(
        default=HighPercent(warning_pct=100, critical_pct=120),
        description="A person's planned load in a week as % of capacity.",
    )
    sync_failing: DaysThreshold = Field(
        default=DaysThreshold(warning_days=0, critical_days=1),
        description="Days a source has been failing (0: from the first failed run).",
    )
    source_stale: StaleAfter = Field(
        default=StaleAfter(warning_intervals=2, critical_intervals=12),
        description="Sync intervals since a source's last successful sync.",
    )


def _optional(annotation: Any) -> Any:
    return annotation | None


def _partial(rule: type[_Rule]) -> type[StrictModel]:
    fields: dict[str, Any] = {
        name: (_optional(info.annotation), Field(default=None, description=info.description))
        for name, info in rule.model_fields.items()
    }
    return create_model(f"{rule.__name__}Override", __base__=StrictModel, **fields)


_PARTIALS = {
    cls: _partial(cls)
    for cls in (
        DaysThreshold,
        DaysBeforeDue,
        LowRatio,
        HighRatio,
        HighPercent,
        AnnualBurn,
        LeaveInFinalDays,
        StaleAfter,
        SeverityRule,
    )
}

_OVERRIDE_FIELDS: dict[str, Any] = {
    name: (
        _optional(_PARTIALS[info.annotation]),  # type: ignore[index]
        Field(default=None, description=info.description),
    )
    for name, info in BuiltinRules.model_fields.items()
}
RuleOverrides: Any = create_model(
    "RuleOverrides",
    __base__=StrictModel,
    __doc__="Built-in rule settings to change; anything not named keeps its value.",
    **_OVERRIDE_FIELDS,
)


def _overlay(base: dict[str, Any], overrides: StrictModel) -> dict[str, Any]:
    merged = {name: dict(value) for name, value in base.items()}
    for name, value in overrides.model_dump(exclude_none=True).items():
        merged[name].update(value)
    return merged


class CustomRule(StrictModel):
    """An admin-written rule: a CEL expression the rules engine evaluates."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    expression: str = Field(
        min_length=1, description="CEL over project.*, milestone.* or deliverable.* fields."
    )
    severity: Severity = "warning"
    summary: str = Field(min_length=1, description="What the alert says; may use {fields}.")
    action: str | None = Field(default=None, description="The suggested action.")
    projects: list[str] = Field(default_factory=list, description="Only these; empty: all.")

    @field_validator("name")
    @classmethod
    def _not_builtin(cls, value: str) -> str:
        if value in BuiltinRules.model_fields:
            raise ValueError(f"{value!r} is a built-in rule; give the custom rule its own name")
        return value

    @field_validator("expression")
    @classmethod
    def _compiles(cls, value: str, info: ValidationInfo) -> str:
        if "name" not in info.data:
            return value  # the entry is already refused for its name: one problem per entry
        from pmsync.rules.custom import check_expression  # at use: pmsync.rules imports config

        check_expression(value)
        return value

    @field_validator("summary")
    @classmethod
    def _fields_exist(cls, value: str, info: ValidationInfo) -> str:
        if "expression" not in info.data:
            return value
        from pmsync.rules.custom import check_summary

        check_summary(value, info.data["expression"])
        return value


class RulesConfig(StrictModel):
    """The whole of ``rules.yaml``."""

    builtin: RuleOverrides = Field(
        default_factory=RuleOverrides, description="Changes to the built-in defaults."
    )
    projects: dict[str, RuleOverrides] = Field(
        default_factory=dict,
        description="Project key to changes for that project, on top of builtin.",
    )
    custom: list[CustomRule] = Field(default_factory=list)

    def effective_layers(self, project_key: str | None = None) -> dict[str, Any]:
        """Return the merged settings as plain data (defaults, builtin, the project)."""
        data = _overlay(BuiltinRules().model_dump(), self.builtin)
        overrides = self.projects.get(project_key) if project_key else None
        return data if overrides is None else _overlay(data, overrides)

    def for_project(self, project_key: str | None = None) -> BuiltinRules:
        """Return the built-in rule thresholds that apply to ``project_key`` (or globally)."""
        if not project_key or project_key not in self.projects:
            return self.everywhere  # most projects: validated once, not once per project
        return BuiltinRules.model_validate(self.effective_layers(project_key))

    @cached_property
    def everywhere(self) -> BuiltinRules:
        """Return the thresholds of every project without overrides of its own."""
        return BuiltinRules.model_validate(self.effective_layers(None))
