"""The catalogue of model metrics the portal computes for every iteration."""

from dataclasses import dataclass

from apps.projects.models import Direction, TaskType


@dataclass(frozen=True)
class MetricSpec:
    name: str
    label: str
    direction: str
    task_type: str
    unit: str = ""


MODEL_METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in [
        MetricSpec("accuracy", "Accuracy", Direction.HIGHER, TaskType.CLASSIFICATION),
        MetricSpec("precision", "Precision", Direction.HIGHER, TaskType.CLASSIFICATION),
        MetricSpec("recall", "Recall", Direction.HIGHER, TaskType.CLASSIFICATION),
        MetricSpec("f1", "F1 score", Direction.HIGHER, TaskType.CLASSIFICATION),
        MetricSpec("roc_auc", "ROC AUC", Direction.HIGHER, TaskType.CLASSIFICATION),
        MetricSpec(
            "pr_auc", "PR AUC (average precision)", Direction.HIGHER, TaskType.CLASSIFICATION
        ),
        MetricSpec("log_loss", "Log loss", Direction.LOWER, TaskType.CLASSIFICATION),
        MetricSpec(
            "expected_cost",
            "Expected cost per 1,000 decisions",
            Direction.LOWER,
            TaskType.CLASSIFICATION,
            unit="per 1,000 decisions",
        ),
        MetricSpec("rmse", "RMSE", Direction.LOWER, TaskType.REGRESSION),
        MetricSpec("mae", "MAE", Direction.LOWER, TaskType.REGRESSION),
        MetricSpec("mape", "MAPE", Direction.LOWER, TaskType.REGRESSION),
        MetricSpec("r2", "R²", Direction.HIGHER, TaskType.REGRESSION),
    ]
}


def metrics_for_task(task_type: str) -> list[MetricSpec]:
    return [spec for spec in MODEL_METRICS.values() if spec.task_type == task_type]
