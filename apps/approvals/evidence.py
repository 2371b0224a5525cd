"""The evidence shown to a decision maker next to a request: checklist, live version, spec diff
and charts."""

from collections.abc import Sequence
from typing import Any

from apps.approvals.checks import Check, checks_evaluate, live_deployment
from apps.approvals.models import ApprovalRequest, RequestStatus, Verdict
from apps.approvals.policies import policy_for
from apps.approvals.selectors import final_decision
from apps.dashboards.comparison import spec_diff as comparison_spec_diff
from apps.dashboards.comparison import spec_fields
from apps.dashboards.figures import Series, residuals_figure, roc_figure
from apps.iterations.models import Iteration
from apps.iterations.selectors import iteration_verdicts
from apps.projects.models import SuccessMetric


def spec_diff(*, candidate: Iteration, live: Iteration | None) -> list[dict[str, Any]]:
    """Return the spec fields where the candidate differs from the live version.

    With no live version there is nothing to differ from, so the candidate's own spec is
    listed (its environment left out) with ``changed`` false.
    """
    if live is None:
        return [
            {"field": name, "candidate": value, "live": None, "changed": False}
            for name, value in spec_fields(candidate).items()
            if not name.startswith("environment.")
        ]
    return [
        {
            "field": difference.field,
            "candidate": difference.values[0],
            "live": difference.values[1],
            "changed": True,
        }
        for difference in comparison_spec_diff(iterations=[candidate, live])
    ]


def _series(iteration: Iteration, key: str, x: str, y: str, summary: str | None) -> Series | None:
    curve = (iteration.evaluation or {}).get(key)
    if not isinstance(curve, dict) or x not in curve or y not in curve:
        return None
    return Series(
        label=f"Iteration {iteration.number}",
        x=curve[x],
        y=curve[y],
        summary=curve.get(summary) if summary else None,
    )


def _charts(candidate: Iteration, live: Iteration | None) -> list[dict[str, Any]]:
    iterations = [candidate] if live is None or live.pk == candidate.pk else [candidate, live]
    charts = []
    roc = [s for it in iterations if (s := _series(it, "roc", "fpr", "tpr", "auc")) is not None]
    if roc:
        charts.append(
            {"id": f"roc-{candidate.pk}", "label": "ROC curve", "figure": roc_figure(series=roc)}
        )
    residuals = [
        s
        for it in iterations
        if (s := _series(it, "residuals", "predicted", "residual", None)) is not None
    ]
    if residuals:
        charts.append(
            {
                "id": f"residuals-{candidate.pk}",
                "label": "Residuals",
                "figure": residuals_figure(series=residuals),
            }
        )
    return charts


def _recorded_checks(recorded: Any) -> list[Check]:
    """Rebuild the checks a decision stored as ``[{"key", "label", "status", "detail"}]``."""
    if not isinstance(recorded, list):
        return []
    return [
        Check(
            key=str(item.get("key", "")),
            label=str(item.get("label", "")),
            status=str(item.get("status", "")),
            detail=str(item.get("detail", "")),
        )
        for item in recorded
        if isinstance(item, dict)
    ]


def approval_evidence(
    *, approval: ApprovalRequest, metrics: Sequence[SuccessMetric]
) -> dict[str, Any]:
    """Build the evidence of one request. Runs a few queries per request."""
    policy = policy_for(project=approval.project, gate=approval.gate)
    checks_recorded_at = None
    if approval.status == RequestStatus.PENDING:
        checks = checks_evaluate(approval=approval, policy=policy)
    else:
        # A decided request shows the checklist its final decision saw, not today's, because
        # the live version and the policy may have changed since.
        final = final_decision(approval)
        checks = _recorded_checks(final.checks) if final is not None else []
        checks_recorded_at = final.created_at if final is not None else None
    approvals_given = sum(
        1 for decision in approval.decisions.all() if decision.verdict == Verdict.APPROVE
    )
    evidence: dict[str, Any] = {
        "checks": checks,
        "checks_recorded_at": checks_recorded_at,
        "has_failing_checks": any(check.failed for check in checks),
        "approvals_required": policy.approvals_required,
        "approvals_given": approvals_given,
        "live_iteration": None,
        "live_verdicts": [],
        "spec_diff": [],
        "charts": [],
    }
    candidate = approval.iteration
    if candidate is None:
        return evidence
    live = live_deployment(approval.project)
    live_iteration = live.iteration if live is not None else None
    evidence["live_iteration"] = live_iteration
    if live_iteration is not None:
        evidence["live_verdicts"] = iteration_verdicts(iteration=live_iteration, metrics=metrics)
    evidence["spec_diff"] = spec_diff(candidate=candidate, live=live_iteration)
    evidence["charts"] = _charts(candidate, live_iteration)
    return evidence
