"""The automatic checklist shown on a request and enforced when a decision maker approves it.

A failing check blocks approval unless the decision maker overrides it with a written
justification. Which checks apply comes from the gate's policy; the framing check of the
promotion gate follows the project's ``promotion_requires_framing_signoff`` flag.
"""

from dataclasses import asdict, dataclass
from typing import Any

from apps.approvals.models import ApprovalPolicy, ApprovalRequest, Gate
from apps.deployments.models import PRODUCTION, Deployment, DeploymentStatus
from apps.iterations.models import Iteration, IterationStatus
from apps.projects.models import Direction, MetricKind, Project, Stage, SuccessMetric

PASSED = "passed"
FAILED = "failed"
NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class Check:
    """One line of the checklist: ``status`` is passed, failed or not_applicable."""

    key: str
    label: str
    status: str
    detail: str

    @property
    def failed(self) -> bool:
        return self.status == FAILED

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def _format(value: float | None) -> str:
    return "none" if value is None else f"{value:.4g}"


def _model_metrics(project: Project) -> list[SuccessMetric]:
    return list(
        SuccessMetric.objects.filter(project=project, kind=MetricKind.MODEL).order_by(
            "position", "id"
        )
    )


def _framing_check(project: Project) -> Check:
    label = "Framing signed off"
    if project.stage in (Stage.FRAMING, Stage.REJECTED):
        return Check(
            "framing_approved",
            label,
            FAILED,
            f"The project is {project.get_stage_display().lower()}; a decision maker has not "
            "signed off its framing.",
        )
    return Check("framing_approved", label, PASSED, "A decision maker signed off the framing.")


def _minimums_check(iteration: Iteration, metrics: list[SuccessMetric]) -> Check:
    label = "Every minimum met on the holdout"
    with_minimum = [metric for metric in metrics if metric.minimum is not None]
    if not with_minimum:
        return Check("minimums", label, NOT_APPLICABLE, "No model metric has a minimum.")
    measured = iteration.metrics or {}
    missed = []
    for metric in with_minimum:
        value = measured.get(metric.name)
        if value is None:
            missed.append(f"{metric.name} was not measured (minimum {_format(metric.minimum)})")
        elif metric.minimum_verdict(value) != "met":
            missed.append(
                f"{metric.name} {_format(value)} misses its minimum {_format(metric.minimum)}"
            )
    if missed:
        return Check("minimums", label, FAILED, "; ".join(missed) + ".")
    names = ", ".join(metric.name for metric in with_minimum)
    return Check("minimums", label, PASSED, f"Met: {names}.")


def _worse_by(*, candidate: float, reference: float, direction: str) -> float:
    """Return how much worse ``candidate`` is than ``reference``, 0 or less when not worse."""
    if direction == Direction.HIGHER:
        return reference - candidate
    return candidate - reference


def live_deployment(project: Project) -> Deployment | None:
    return (
        Deployment.objects.filter(
            project=project, environment=PRODUCTION, status=DeploymentStatus.LIVE
        )
        .select_related("iteration", "iteration__dataset")
        .first()
    )


def _regression_check(
    iteration: Iteration,
    metrics: list[SuccessMetric],
    live: Deployment | None,
    tolerance: float,
) -> Check:
    label = "No regression against the live version"
    if live is None:
        return Check("regression", label, NOT_APPLICABLE, "No version is live in production.")
    if live.iteration_id == iteration.pk:
        return Check("regression", label, NOT_APPLICABLE, "This iteration is the live version.")
    candidate_values = iteration.metrics or {}
    live_values = live.iteration.metrics or {}
    regressions = []
    for metric in metrics:
        candidate = candidate_values.get(metric.name)
        reference = live_values.get(metric.name)
        if candidate is None or reference is None:
            continue
        drop = _worse_by(candidate=candidate, reference=reference, direction=metric.direction)
        if drop > tolerance:
            regressions.append(
                f"{metric.name} {_format(candidate)} against {_format(reference)} live"
            )
    live_name = f"iteration {live.iteration.number}"
    if regressions:
        return Check(
            "regression",
            label,
            FAILED,
            f"Worse than the live {live_name} by more than {_format(tolerance)}: "
            + "; ".join(regressions)
            + ".",
        )
    return Check(
        "regression",
        label,
        PASSED,
        f"Within {_format(tolerance)} of the live {live_name} or better on every model metric.",
    )


def _reproduced_check(iteration: Iteration) -> Check:
    label = "Iteration reproduced"
    outcome = (iteration.reproduction or {}).get("status")
    if outcome == "reproduced":
        rerun = iteration.reproduction.get("iteration")
        return Check(
            "reproduced", label, PASSED, f"Rerun as iteration {rerun} gave the same metrics."
        )
    if outcome is None:
        return Check("reproduced", label, FAILED, "The iteration has not been rerun yet.")
    return Check("reproduced", label, FAILED, f"The latest rerun {outcome}.")


def _baseline_check(iteration: Iteration, metrics: list[SuccessMetric]) -> Check:
    label = "Non-ML baseline beaten"
    if not metrics:
        return Check("baseline", label, NOT_APPLICABLE, "The project has no model metric.")
    # Only the first model metric is compared, because a rule may match a model on a
    # secondary metric such as recall without being the better choice.
    primary = metrics[0]
    value = (iteration.metrics or {}).get(primary.name)
    references: list[tuple[str, float]] = []
    if primary.baseline is not None:
        references.append(("the agreed baseline", primary.baseline))
    baselines = Iteration.objects.filter(
        project_id=iteration.project_id,
        dataset_id=iteration.dataset_id,
        is_baseline=True,
        status=IterationStatus.SUCCEEDED,
    ).order_by("number")
    for baseline in baselines:
        measured = (baseline.metrics or {}).get(primary.name)
        if measured is not None:
            references.append((f"iteration {baseline.number} ({baseline.recipe})", measured))
    if not references:
        # NOTE: baselines still training count as absent, so this check cannot fail until
        # one finishes or the metric has an agreed baseline value.
        return Check(
            "baseline",
            label,
            NOT_APPLICABLE,
            f"No finished baseline on this dataset version and no agreed baseline for "
            f"{primary.name}.",
        )
    if value is None:
        return Check("baseline", label, FAILED, f"{primary.name} was not measured.")
    beaten_by = [
        name
        for name, reference in references
        if _worse_by(candidate=value, reference=reference, direction=primary.direction) >= 0
    ]
    if beaten_by:
        return Check(
            "baseline",
            label,
            FAILED,
            f"{primary.name} {_format(value)} does not beat " + ", ".join(beaten_by) + ".",
        )
    best = max(
        references,
        key=lambda item: item[1] if primary.direction == Direction.HIGHER else -item[1],
    )
    return Check(
        "baseline",
        label,
        PASSED,
        f"{primary.name} {_format(value)} beats {best[0]} ({_format(best[1])}).",
    )


def checks_evaluate(*, approval: ApprovalRequest, policy: ApprovalPolicy) -> list[Check]:
    """Run the checks that ``policy`` turns on for ``approval``, in checklist order."""
    project = approval.project
    if approval.gate != Gate.PROMOTION or approval.iteration is None:
        return []
    iteration = approval.iteration
    metrics = _model_metrics(project)
    checks: list[Check] = []
    if project.promotion_requires_framing_signoff:
        checks.append(_framing_check(project))
    if policy.check_minimums:
        checks.append(_minimums_check(iteration, metrics))
    if policy.check_regression:
        checks.append(
            _regression_check(
                iteration, metrics, live_deployment(project), policy.regression_tolerance
            )
        )
    if policy.require_reproduced:
        checks.append(_reproduced_check(iteration))
    if policy.check_baseline:
        checks.append(_baseline_check(iteration, metrics))
    return checks


def checks_as_data(checks: list[Check]) -> list[dict[str, Any]]:
    return [check.as_dict() for check in checks]
