"""Read and score an uploaded CSV with the deployment a batch was submitted against.

Batch files are read by the dataset reader (``apps.datasets.ingest``), so they get the same
encoding and delimiter detection and the same bad-file checks as a dataset upload.
"""

import io
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from django.core.files.base import ContentFile

from apps.core.errors import InvalidInput, Unprocessable
from apps.datasets.ingest import csv_table_read
from apps.deployments.models import BatchJob
from apps.deployments.scoring import model_predict
from apps.deployments.serving import model_get

logger = logging.getLogger(__name__)

# Rows scored between two progress updates.
CHUNK_ROWS = 5_000
# Missing columns named in a message; a file with more lists the first ones and a count.
MAX_NAMED_COLUMNS = 10


class BatchInputError(Exception):
    """An uploaded file that cannot be scored, with a message for the user that gives the reason."""


def batch_table_read(path: Path) -> pa.Table:
    """Parse a batch CSV, detecting its encoding and delimiter. Raises InvalidInput on ``file``."""
    if path.stat().st_size == 0:
        raise InvalidInput("The file is empty.", field="file")
    table, _ = csv_table_read(path)
    if table.num_rows == 0:
        raise InvalidInput("The file has a header but no data rows.", field="file")
    return table


def batch_columns_check(*, columns: list[str], feature_columns: list[str]) -> None:
    """Raise Unprocessable naming the model's feature columns that ``columns`` lacks."""
    present = set(columns)
    missing = [column for column in feature_columns if column not in present]
    if not missing:
        return
    named = ", ".join(f"'{column}'" for column in missing[:MAX_NAMED_COLUMNS])
    more = len(missing) - MAX_NAMED_COLUMNS
    if more > 0:
        named += f" and {more} more"
    raise Unprocessable(
        f"The file lacks {len(missing)} of the {len(feature_columns)} columns the live model "
        f"needs: {named}. Add them to the header; other columns are kept in the output.",
        field="file",
    )


def batch_score(*, batch: BatchJob) -> ContentFile[bytes]:
    """Return the scored CSV: the input columns, then ``prediction`` and, for classifiers,
    ``probability``. Progress is written to ``rows_done`` after every chunk.

    Raises BatchInputError with a message for the user when the file cannot be scored.
    """
    served = model_get(kind="deployment", object_id=batch.deployment_id)
    try:
        table = batch_table_read(Path(batch.input_file.path))
        batch_columns_check(
            columns=[str(name) for name in table.column_names],
            feature_columns=served.feature_columns,
        )
    except (InvalidInput, Unprocessable) as exc:
        raise BatchInputError(exc.message) from None
    frame = table.to_pandas(date_as_object=False)
    features = frame[served.feature_columns].copy()
    for column in served.numeric_columns:
        converted = pd.to_numeric(features[column], errors="coerce")
        invalid = int((converted.isna() & features[column].notna()).sum())
        if invalid:
            raise BatchInputError(
                f"Column '{column}' has {invalid} values that are not numbers. Fix them or "
                "leave those cells empty."
            )
        features[column] = converted
    type(batch).objects.filter(pk=batch.pk).update(rows_total=len(frame), rows_done=0)

    predictions: list[Any] = []
    probabilities: list[Any] = []
    for start in range(0, len(features), CHUNK_ROWS):
        chunk = features.iloc[start : start + CHUNK_ROWS]
        try:
            scores = model_predict(
                model=served.model,
                frame=chunk,
                task_type=served.task_type,
                threshold=served.threshold,
            )
        except (ValueError, TypeError) as exc:
            # The library's message may quote the file's values, so it stays in the log.
            logger.warning(
                "batch %s: the model could not score rows %s to %s: %s",
                batch.pk,
                start + 1,
                start + len(chunk),
                exc,
            )
            raise BatchInputError(
                f"The model could not score rows {start + 1} to {start + len(chunk)}. "
                "Check them for categories that the training data did not contain."
            ) from None
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
