"""Score an uploaded CSV with the deployment a batch was submitted against."""

import io
from typing import Any

import pandas as pd
from django.core.files.base import ContentFile

from apps.deployments.models import BatchJob
from apps.deployments.scoring import model_predict
from apps.deployments.serving import model_get

# Rows scored between two progress updates.
CHUNK_ROWS = 5_000


class BatchInputError(Exception):
    """The uploaded file cannot be scored; the message says why and is shown to the user."""


def batch_score(*, batch: BatchJob) -> ContentFile[bytes]:
    """Return the scored CSV: the input columns, then ``prediction`` and, for classifiers,
    ``probability``. Progress is written to ``rows_done`` after every chunk."""
    served = model_get(kind="deployment", object_id=batch.deployment_id)
    with batch.input_file.open("rb") as handle:
        try:
            frame = pd.read_csv(handle)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BatchInputError(f"The file could not be read as CSV: {exc}") from None
    missing = [column for column in served.feature_columns if column not in frame.columns]
    if missing:
        raise BatchInputError(
            f"The file lacks {len(missing)} of the model's columns: {', '.join(missing[:10])}."
        )
    features = frame[served.feature_columns].copy()
    for column in served.numeric_columns:
        converted = pd.to_numeric(features[column], errors="coerce")
        invalid = int((converted.isna() & features[column].notna()).sum())
        if invalid:
            raise BatchInputError(f"Column '{column}' has {invalid} values that are not numbers.")
        features[column] = converted
    type(batch).objects.filter(pk=batch.pk).update(rows_total=len(frame), rows_done=0)

    predictions: list[Any] = []
    probabilities: list[Any] = []
    for start in range(0, len(features), CHUNK_ROWS):
        chunk = features.iloc[start : start + CHUNK_ROWS]
        scores = model_predict(
            model=served.model, frame=chunk, task_type=served.task_type, threshold=served.threshold
        )
        predictions.extend(scores.predictions)
        if scores.probabilities is not None:
            probabilities.extend(scores.probabilities)
        type(batch).objects.filter(pk=batch.pk).update(rows_done=start + len(chunk))

    output = frame.copy()
    output["prediction"] = predictions
    if probabilities:
        output["probability"] = probabilities
    buffer = io.StringIO()
    output.to_csv(buffer, index=False)
    return ContentFile(buffer.getvalue().encode())
