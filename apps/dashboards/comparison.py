"""Side-by-side comparison of iterations: what differs in their specs, and how their results move.

``spec_diff`` is shared with other pages that show what changed between two model versions
(the approvals inbox, for one), so it takes iterations and returns plain data.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from apps.core.errors import InvalidInput, Unprocessable
from apps.dashboards.figures import (
    Series,
    calibration_figure,
    confusion_matrix_figure,
    expected_cost_figure,
    feature_importance_figure,
    finite_or_none,
    precision_recall_figure,
    residuals_figure,
    roc_figure,
)
from apps.iterations.models import Iteration
from apps.projects.models import Direction, MetricKind, Project, SuccessMetric

MAX_COMPARED = 8


@dataclass(frozen=True)
class SpecDifference:
    """One spec field whose value is not the same in every compared iteration."""

    field: str
    values: list[Any]


def _dataset_label(iteration: Iteration) -> str:
    dataset = iteration.dataset
    return f"{dataset.name} v{dataset.version} (sha256 {dataset.sha256[:12]})"


def spec_fields(iteration: Iteration) -> dict[str, Any]:
    """Flatten the parts of an iteration that decide what it trains into ``{field: value}``.

    Parameters and environment entries become ``params.<name>`` and ``environment.<name>``,
    so two specs differ field by field rather than as whole dictionaries.
    """
    fields: dict[str, Any] = {
        "dataset": _dataset_label(iteration),
        "recipe": iteration.recipe,
        "seed": iteration.seed,
        "test_size": iteration.test_size,
        "feature_columns": list(iteration.feature_columns or []),
    }
    for name, value in sorted((iteration.params or {}).items()):
        fields[f"params.{name}"] = value
    for name, value in sorted((iteration.environment or {}).items()):
        fields[f"environment.{name}"] = value
    return fields


def spec_diff(*, iterations: Sequence[Iteration]) -> list[SpecDifference]:
    """Return the spec fields that differ between ``iterations``, in a stable order.

    A field absent from one iteration (a parameter left at its default, say) has the value
    None there. Fields equal in every iteration are left out, so an empty list means the
    specs are identical. The dataset must be loaded with ``select_related("dataset")`` to
    avoid one query per iteration.
    """
    flattened = [spec_fields(iteration) for iteration in iterations]
    names: list[str] = []
    for fields in flattened:
        for name in fields:
            if name not in names:
                names.append(name)
    differences = []
    for name in names:
        values = [fields.get(name) for fields in flattened]
        if any(value != values[0] for value in values[1:]):
            differences.append(SpecDifference(field=name, values=values))
    return differences


def relative_change(
    *, value: float | None, reference: float | None, direction: str
) -> float | None:
    """Return the change from ``reference`` to ``value`` in percent, positive when better.

    None when either value is undefined or the reference is zero, where a percentage means
    nothing.
    """
    value = finite_or_none(value)
    reference = finite_or_none(reference)
    if value is None or reference is None or reference == 0:
        return None
    change = (value - reference) / abs(reference) * 100
    return change if direction == Direction.HIGHER else -change


@dataclass(frozen=True)
class MetricDelta:
    """One metric across the compared iterations, with each change from the first one."""

    metric: SuccessMetric
    values: list[float | None]
    changes: list[float | None]
    verdicts: list[str]

    @property
    def cells(self) -> list[tuple[float | None, float | None, str]]:
        """Return (value, change, verdict) per iteration, for templates."""
        return list(zip(self.values, self.changes, self.verdicts, strict=True))


@dataclass(frozen=True)
class ComparisonChart:
    element_id: str
    label: str
    figure: dict[str, Any]


@dataclass(frozen=True)
class IterationComparison:
    project: Project
    iterations: list[Iteration]
    spec_differences: list[SpecDifference]
    metric_deltas: list[MetricDelta]
    charts: list[ComparisonChart] = field(default_factory=list)
    confusion_charts: list[ComparisonChart] = field(default_factory=list)
    missing_evaluation: list[int] = field(default_factory=list)


ITERATION_NUMBER_MAX = 2**31 - 1
"""The largest iteration number the database column stores (a 32-bit signed integer)."""


def _iteration_number_parse(text: str) -> int:
    # str.isdigit accepts superscripts and other Unicode digits that int() rejects, and the
    # length check keeps int() away from huge digit strings.
    is_number = text.isascii() and text.isdigit() and len(text) <= len(str(ITERATION_NUMBER_MAX))
    if not is_number or not 1 <= int(text) <= ITERATION_NUMBER_MAX:
        text_shown = text if len(text) <= 20 else f"{text[:20]}..."
        raise InvalidInput(
            f"Iteration numbers must be whole numbers from 1 to {ITERATION_NUMBER_MAX}; "
            f"{text_shown!r} is not.",
            field="iterations",
        )
    return int(text)


def comparison_numbers_parse(raw: str | Sequence[str]) -> list[int]:
    """Parse iteration numbers from ``"3,5"`` or a list of strings, keeping their order.

    Raises InvalidInput unless there are two to ``MAX_COMPARED`` distinct positive numbers.
    """
    parts = raw.split(",") if isinstance(raw, str) else [p for item in raw for p in item.split(",")]
    numbers: list[int] = []
    for part in parts:
        text = part.strip()
        if not text:
            continue
        number = _iteration_number_parse(text)
        if number not in numbers:
            numbers.append(number)
    if len(numbers) < 2:
        raise InvalidInput(
            "Pick at least two iterations to compare, for example iterations=3,5.",
            field="iterations",
        )
    if len(numbers) > MAX_COMPARED:
        raise InvalidInput(
            f"Compare at most {MAX_COMPARED} iterations at a time; {len(numbers)} were given.",
            field="iterations",
        )
    return numbers


def _label(iteration: Iteration) -> str:
    return f"#{iteration.number} {iteration.recipe}"


def _series(
    iterations: Sequence[Iteration], key: str, x: str, y: str, summary: str
) -> list[Series]:
    series = []
    for iteration in iterations:
        curve = (iteration.evaluation or {}).get(key)
        if not isinstance(curve, Mapping):
            continue
        xs, ys = curve.get(x), curve.get(y)
        if not isinstance(xs, list) or not isinstance(ys, list):
            continue
        series.append(
            Series(
                label=_label(iteration),
                x=xs,
                y=ys,
                summary=finite_or_none(curve.get(summary)) if summary else None,
            )
        )
    return series


def _charts(project: Project, iterations: Sequence[Iteration]) -> list[ComparisonChart]:
    charts: list[ComparisonChart] = []
    roc = _series(iterations, "roc", "fpr", "tpr", "auc")
    if roc:
        charts.append(ComparisonChart("compare-roc", "ROC curve", roc_figure(series=roc)))
    pr = _series(iterations, "pr", "recall", "precision", "average_precision")
    if pr:
        charts.append(
            ComparisonChart(
                "compare-pr", "Precision and recall", precision_recall_figure(series=pr)
            )
        )
    calibration = _series(iterations, "calibration", "mean_predicted", "fraction_positive", "")
    if calibration:
        charts.append(
            ComparisonChart(
                "compare-calibration", "Calibration", calibration_figure(series=calibration)
            )
        )

    with_cost = [
        iteration
        for iteration in iterations
        if isinstance((iteration.evaluation or {}).get("cost_curve"), Mapping)
    ]
    cost = _series(with_cost, "cost_curve", "thresholds", "expected_cost", "")
    if cost and len(cost) == len(with_cost):
        charts.append(
            ComparisonChart(
                "compare-cost",
                "Expected cost over thresholds",
                expected_cost_figure(
                    series=cost,
                    chosen_thresholds=[iteration.threshold for iteration in with_cost],
                    cost_false_positive=project.cost_false_positive,
                    cost_false_negative=project.cost_false_negative,
                ),
            )
        )

    importances: list[tuple[str, dict[str, float]]] = []
    for iteration in iterations:
        rows = (iteration.evaluation or {}).get("feature_importance")
        if not isinstance(rows, list):
            continue
        values = {
            str(row["feature"]): float(row["importance"])
            for row in rows
            if isinstance(row, Mapping)
            and "feature" in row
            and finite_or_none(row.get("importance")) is not None
        }
        if values:
            importances.append((_label(iteration), values))
    if importances:
        charts.append(
            ComparisonChart(
                "compare-importance",
                "Feature importance",
                feature_importance_figure(importances=importances),
            )
        )

    residuals = _series(iterations, "residuals", "predicted", "residual", "")
    if residuals:
        charts.append(
            ComparisonChart("compare-residuals", "Residuals", residuals_figure(series=residuals))
        )
    return charts


def _confusion_charts(iterations: Sequence[Iteration]) -> list[ComparisonChart]:
    charts = []
    for iteration in iterations:
        confusion = (iteration.evaluation or {}).get("confusion")
        if not isinstance(confusion, Mapping) or not isinstance(confusion.get("matrix"), list):
            continue
        threshold = finite_or_none(confusion.get("threshold"))
        title = f"#{iteration.number}"
        if threshold is not None:
            title += f" at threshold {threshold:.3f}"
        labels = confusion.get("labels") or ["0", "1"]
        charts.append(
            ComparisonChart(
                f"compare-confusion-{iteration.number}",
                f"Confusion matrix of iteration {iteration.number}",
                confusion_matrix_figure(title=title, labels=labels, matrix=confusion["matrix"]),
            )
        )
    return charts


def _metric_deltas(
    metrics: Sequence[SuccessMetric], iterations: Sequence[Iteration]
) -> list[MetricDelta]:
    deltas = []
    for metric in metrics:
        values = [finite_or_none((it.metrics or {}).get(metric.name)) for it in iterations]
        changes: list[float | None] = [None]
        changes.extend(
            relative_change(value=value, reference=values[0], direction=metric.direction)
            for value in values[1:]
        )
        deltas.append(
            MetricDelta(
                metric=metric,
                values=values,
                changes=changes,
                verdicts=[metric.verdict(value) for value in values],
            )
        )
    return deltas


def iteration_comparison(
    *, project: Project, numbers: Sequence[int], with_charts: bool = True
) -> IterationComparison:
    """Compare the iterations of ``project`` with ``numbers``, in the order given.

    Runs two queries whatever the number of iterations. Raises Unprocessable when a number
    names no iteration of the project.
    """
    found = {
        iteration.number: iteration
        for iteration in Iteration.objects.filter(project=project, number__in=numbers)
        .select_related("dataset")
        .defer("holdout_sample", "progress")
    }
    missing = [number for number in numbers if number not in found]
    if missing:
        raise Unprocessable(
            f"This project has no iteration {', '.join(str(n) for n in missing)}.",
            field="iterations",
        )
    iterations = [found[number] for number in numbers]
    metrics = [metric for metric in project.metrics.all() if metric.kind == MetricKind.MODEL]
    return IterationComparison(
        project=project,
        iterations=iterations,
        spec_differences=spec_diff(iterations=iterations),
        metric_deltas=_metric_deltas(metrics, iterations),
        charts=_charts(project, iterations) if with_charts else [],
        confusion_charts=_confusion_charts(iterations) if with_charts else [],
        missing_evaluation=[it.number for it in iterations if not it.evaluation],
    )
