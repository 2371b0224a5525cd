"""Turn a fitted model's output into the portal's predictions.

The deploy replay and the prediction endpoint both score through ``model_predict``, so a
model is judged before going live by exactly the rule that it serves with.
"""

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from apps.projects.models import TaskType


@dataclass(frozen=True)
class Scores:
    predictions: list[Any]
    # Classifiers only: the positive class's probability per row for a binary model, the
    # list of class probabilities per row otherwise.
    probabilities: list[Any] | None


def model_predict(
    *, model: Any, frame: pd.DataFrame, task_type: str, threshold: float | None
) -> Scores:
    """Score ``frame`` with ``model``, applying ``threshold`` to a binary classifier.

    A binary classifier with a threshold predicts the positive class (the second of
    ``classes_``, as in scikit-learn) when its probability is at least the threshold,
    which is the convention of ``sklearn.metrics.roc_curve``.
    """
    if task_type != TaskType.CLASSIFICATION:
        return Scores(predictions=_native(model.predict(frame)), probabilities=None)

    if not hasattr(model, "predict_proba"):
        return Scores(predictions=_native(model.predict(frame)), probabilities=None)
    probabilities = np.asarray(model.predict_proba(frame))
    classes = np.asarray(model.classes_)
    if len(classes) == 2:
        positive = probabilities[:, 1]
        if threshold is not None:
            predictions = np.where(positive >= threshold, classes[1], classes[0])
        else:
            predictions = np.asarray(model.predict(frame))
        return Scores(predictions=_native(predictions), probabilities=_native(positive))
    return Scores(predictions=_native(model.predict(frame)), probabilities=_native(probabilities))


def _native(values: Any) -> list[Any]:
    """Convert numpy output to plain Python values that JSON can encode."""
    return np.asarray(values).tolist()
