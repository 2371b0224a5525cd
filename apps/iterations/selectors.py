from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from apps.iterations.models import Iteration
from apps.projects.models import MetricKind, Project, SuccessMetric


@dataclass(frozen=True)
class IterationWithVerdicts:
    iteration: Iteration
    verdicts: list[dict[str, Any]]


def iteration_list(*, project: Project) -> QuerySet[Iteration]:
    return (
        Iteration.objects.filter(project=project)
        .select_related("dataset", "created_by", "reproduction_of")
        .order_by("number")
    )


def iteration_get(*, project: Project, number: int) -> Iteration:
    iteration = iteration_list(project=project).filter(number=number).first()
    if iteration is None:
        raise Http404("No iteration with that number in this project.")
    return iteration


def iteration_verdicts(
    *, iteration: Iteration, metrics: Sequence[SuccessMetric]
) -> list[dict[str, Any]]:
    """Judge the iteration against each success metric.

    Only model metrics are measured by training, so business and operational metrics are
    ``undefined`` here: they are judged on live traffic, not on the holdout.
    """
    measured = iteration.metrics or {}
    verdicts = []
    for metric in metrics:
        value = measured.get(metric.name) if metric.kind == MetricKind.MODEL else None
        verdicts.append(
            {
                "name": metric.name,
                "kind": metric.kind,
                "direction": metric.direction,
                "value": value,
                "target": metric.target,
                "minimum": metric.minimum,
                "stretch": metric.stretch,
                "unit": metric.unit,
                "verdict": metric.verdict(value),
                "minimum_verdict": metric.minimum_verdict(value),
            }
        )
    return verdicts


def project_metrics(*, project: Project) -> list[SuccessMetric]:
    return list(SuccessMetric.objects.filter(project=project))


def project_iterations_with_verdicts(*, project: Project) -> list[IterationWithVerdicts]:
    """Return every iteration of the project with its verdicts, in two queries in all."""
    metrics = project_metrics(project=project)
    return [
        IterationWithVerdicts(
            iteration=iteration,
            verdicts=iteration_verdicts(iteration=iteration, metrics=metrics),
        )
        for iteration in iteration_list(project=project)
    ]
