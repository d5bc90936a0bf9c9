"""``rules.yaml``: thresholds of the built-in rules, per-project overrides, custom rules.

The rules engine owns the logic; this module owns the numbers an admin tunes.
Every built-in rule has sensible defaults, so an empty ``rules.yaml`` (or none)
is a working configuration. Per-project overrides name only what differs and
inherit the rest from the global values (``RulesConfig.for_project``). Custom
rule expressions are kept as text here and compiled by the rules engine.
"""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, create_model, model_validator

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


class SeverityRule(_Rule):
    """Fires with a fixed severity when its condition holds."""

    severity: Severity = "warning"


class BuiltinRules(StrictModel):
    """The built-in rules and their thresholds."""

    milestone_slip: DaysThreshold = Field(
        default=DaysThreshold(warning_days=3, critical_days=10),
        description="Forecast (P85) or actual finish later than the due date by N days.",
    )
    spi_low: LowRatio = Field(
        default=LowRatio(warning=0.9, critical=0.8), description="Schedule performance index."
    )
    cpi_low: LowRatio = Field(
        default=LowRatio(warning=0.9, critical=0.8), description="Cost performance index."
    )
    due_probability_low: LowRatio = Field(
        default=LowRatio(warning=0.7, critical=0.5),
        description="Monte Carlo probability of meeting a milestone's due date.",
    )
    eac_over_budget: HighPercent = Field(
        default=HighPercent(warning_pct=5, critical_pct=15),
        description="Estimate at completion above the budget at completion by N %.",
    )
    annual_budget_overrun: HighPercent = Field(
        default=HighPercent(warning_pct=90, critical_pct=100),
        description="Actual cost of the fiscal year as % of its annual budget.",
    )
    scope_growth: HighPercent = Field(
        default=HighPercent(warning_pct=10, critical_pct=25),
        description="Growth of a milestone's scope since the baseline.",
    )
    blocked_items: DaysThreshold = Field(
        default=DaysThreshold(warning_days=3, critical_days=7),
        description="Work items blocked for N days.",
    )
    ageing_items: DaysThreshold = Field(
        default=DaysThreshold(warning_days=10, critical_days=20),
        description="Work items in progress for N days.",
    )
    unassigned_near_due: DaysBeforeDue = Field(
        default=DaysBeforeDue(warning_days=14, critical_days=7),
        description="Unassigned work in a milestone due within N days.",
    )
    overload: HighPercent = Field(
        default=HighPercent(warning_pct=100, critical_pct=120),
        description="A person's planned load in a week as % of capacity.",
    )
    risk_review_overdue: DaysThreshold = Field(
        default=DaysThreshold(warning_days=0, critical_days=14),
        description="Days past a risk's next_review.",
    )
    missing_status_meeting: DaysThreshold = Field(
        default=DaysThreshold(warning_days=2, critical_days=7),
        description="Days past the expected date of a meeting in the cadence.",
    )
    sync_failing: DaysThreshold = Field(
        default=DaysThreshold(warning_days=0, critical_days=1),
        description="Days a source has been failing (0: from the first failed run).",
    )
    unapproved_plan_change: SeverityRule = Field(
        default=SeverityRule(), description="Plan dates or budget changed after the baseline."
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
    for cls in (DaysThreshold, DaysBeforeDue, LowRatio, HighPercent, SeverityRule)
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
    """An admin-written rule: an expression the rules engine evaluates."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    expression: str = Field(min_length=1, description="Checked and compiled by the rules engine.")
    severity: Severity = "warning"
    summary: str = Field(min_length=1, description="What the alert says; may use {fields}.")
    projects: list[str] = Field(default_factory=list, description="Only these; empty: all.")


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
        return BuiltinRules.model_validate(self.effective_layers(project_key))
