"""Read and check uploaded tables: stream to disk while hashing, detect the format, parse, profile.

Nothing here touches the database or the storage backend, so services can run every check
before they write anything.
"""

import csv
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.core.files.uploadedfile import UploadedFile

from apps.core.errors import InvalidInput, PayloadTooLarge
from apps.datasets.models import DatasetFormat

logger = logging.getLogger(__name__)

# Fewer labelled rows than this leave too little to split into training and holdout rows.
MIN_TRAINING_ROWS = 10

PARQUET_MAGIC = b"PAR1"
# A text column counts as categorical when it has at most this many distinct values, or when
# distinct values make up at most half of its rows. A more varied column counts as free text.
CATEGORICAL_MAX_DISTINCT = 50


class ColumnKind:
    NUMERIC = "numeric"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"
    TEXT = "text"


@dataclass(frozen=True)
class SpooledUpload:
    """An upload copied to a local temporary file, with its hash and the first bytes."""

    path: Path
    sha256: str
    size_bytes: int
    head: bytes


@dataclass
class ParsedTable:
    format: str
    frame: pd.DataFrame
    schema: list[dict[str, str]]
    warnings: list[str] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        return len(self.frame)


def upload_spool(uploaded_file: UploadedFile[bytes], *, max_bytes: int) -> SpooledUpload:
    """Copy the upload chunk by chunk to a temporary file, hashing it on the way.

    The caller deletes ``path``. Raises PayloadTooLarge as soon as the copy passes ``max_bytes``.
    """
    if uploaded_file.size is not None and uploaded_file.size > max_bytes:
        raise _too_large(max_bytes)
    digest = hashlib.sha256()
    size = 0
    head = b""
    handle, name = tempfile.mkstemp(prefix="dataset-", suffix=".upload")
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in uploaded_file.chunks():
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(max_bytes)
                if len(head) < 8:
                    head = (head + chunk)[:8]
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return SpooledUpload(path=path, sha256=digest.hexdigest(), size_bytes=size, head=head)


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The file is larger than the {max_bytes / 1024 / 1024:.0f} MiB upload limit. "
        "Upload a sample or a Parquet file, which is smaller than the same CSV.",
        field="file",
    )


def format_detect(*, filename: str, head: bytes) -> str:
    if filename.lower().endswith(".parquet") or head.startswith(PARQUET_MAGIC):
        return DatasetFormat.PARQUET
    return DatasetFormat.CSV


def table_parse(path: Path, *, file_format: str) -> ParsedTable:
    """Parse a spooled file and profile its columns. Raises InvalidInput on field ``file``."""
    if path.stat().st_size == 0:
        raise InvalidInput("The file is empty.", field="file")
    frame = _parquet_read(path) if file_format == DatasetFormat.PARQUET else _csv_read(path)
    return ParsedTable(format=file_format, frame=frame, schema=schema_infer(frame))


def dataset_frame_read(path: str | Path, *, file_format: str) -> pd.DataFrame:
    """Read a stored dataset file into a frame, with the same options as at upload."""
    if file_format == DatasetFormat.PARQUET:
        return _parquet_read(Path(path))
    return pd.read_csv(path, encoding="utf-8-sig", skip_blank_lines=True, low_memory=False)


def _csv_check(path: Path) -> list[str]:
    """Walk the CSV once with the csv module and return its header.

    pandas silently pads rows with too few fields and renames duplicate headers, so the
    structure is checked here first, row by row, without loading the file into memory.
    """
    with path.open(encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(text)
        try:
            header: list[str] | None = None
            data_rows = 0
            for row in reader:
                if not row:
                    continue
                if header is None:
                    header = row
                    _header_check(header, line=reader.line_num)
                    continue
                if len(row) != len(header):
                    problem = "too many" if len(row) > len(header) else "too few"
                    raise InvalidInput(
                        f"Line {reader.line_num} has {problem} fields: {len(row)} instead of "
                        f"{len(header)} as in the header. Check the quoting and separators "
                        "on that line.",
                        field="file",
                    )
                data_rows += 1
        except UnicodeDecodeError:
            raise InvalidInput(
                f"The file is not UTF-8 text (invalid bytes near line {max(reader.line_num, 1)}). "
                "Upload a CSV saved as UTF-8, or a Parquet file.",
                field="file",
            ) from None
        except csv.Error as error:
            if "NUL" in str(error):
                message = (
                    f"The file is not a text CSV: line {reader.line_num + 1} contains binary "
                    "data. Upload a CSV or a Parquet file."
                )
            else:
                message = f"The CSV could not be read near line {reader.line_num + 1}: {error}."
            raise InvalidInput(message, field="file") from None
    if header is None:
        raise InvalidInput("The file has no header and no data rows.", field="file")
    if data_rows == 0:
        raise InvalidInput("The file has a header but no data rows.", field="file")
    return header


def _header_check(header: list[str], *, line: int) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        if not name.strip():
            raise InvalidInput(
                f"Column {position} on line {line} has an empty name. Give every column a name.",
                field="file",
            )
        if name in seen:
            raise InvalidInput(
                f"The column name '{name}' appears twice: columns {seen[name]} and {position}. "
                "Column names must be unique.",
                field="file",
            )
        seen[name] = position


def _csv_read(path: Path) -> pd.DataFrame:
    with path.open("rb") as raw:
        if b"\x00" in raw.read(8192):
            raise InvalidInput(
                "The file is not a text CSV: it contains binary data. "
                "Upload a CSV or a Parquet file.",
                field="file",
            )
    header = _csv_check(path)
    try:
        frame = dataset_frame_read(path, file_format=DatasetFormat.CSV)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise InvalidInput(f"The CSV could not be parsed: {error}", field="file") from None
    if [str(name) for name in frame.columns] != header:
        raise InvalidInput(
            "The CSV header could not be read consistently. Check for quoted line breaks "
            "in the column names.",
            field="file",
        )
    return frame


def _parquet_read(path: Path) -> pd.DataFrame:
    import pyarrow
    import pyarrow.parquet

    try:
        table = pyarrow.parquet.read_table(path)
    except (pyarrow.ArrowException, OSError) as error:
        # Arrow's message names the server's temporary file, so it stays in the log.
        logger.info("rejected upload as Parquet: %s", error)
        raise InvalidInput(
            "The file is not a valid Parquet file (no Parquet footer found). Upload a Parquet "
            "file, or a CSV with a .csv name.",
            field="file",
        ) from None
    names = [str(name) for name in table.column_names]
    if not names:
        raise InvalidInput("The Parquet file has no columns.", field="file")
    _header_check(names, line=1)
    if table.num_rows == 0:
        raise InvalidInput("The Parquet file has no data rows.", field="file")
    try:
        return table.to_pandas()
    except (pyarrow.ArrowException, ValueError) as error:
        raise InvalidInput(
            f"The Parquet file uses types that cannot be loaded: {error}", field="file"
        ) from None


def schema_infer(frame: pd.DataFrame) -> list[dict[str, str]]:
    return [
        {"name": str(name), "dtype": str(frame[name].dtype), "kind": column_kind(frame[name])}
        for name in frame.columns
    ]


def column_kind(series: "pd.Series[Any]") -> str:
    if pd.api.types.is_bool_dtype(series):
        return ColumnKind.BOOLEAN
    if pd.api.types.is_datetime64_any_dtype(series):
        return ColumnKind.DATETIME
    if pd.api.types.is_integer_dtype(series):
        return ColumnKind.INTEGER
    if pd.api.types.is_numeric_dtype(series):
        return ColumnKind.NUMERIC
    values = series.dropna()
    if values.empty:
        return ColumnKind.CATEGORICAL
    if _looks_like_dates(values):
        return ColumnKind.DATETIME
    distinct = values.nunique()
    if distinct <= CATEGORICAL_MAX_DISTINCT or distinct <= len(values) / 2:
        return ColumnKind.CATEGORICAL
    return ColumnKind.TEXT


def _looks_like_dates(values: "pd.Series[Any]") -> bool:
    sample = values.head(200).astype(str)
    # ISO 8601 only: guessing day-first or month-first formats would misread half the world.
    if not sample.str.match(r"^\d{4}-\d{2}-\d{2}").all():
        return False
    parsed = pd.to_datetime(sample, format="ISO8601", errors="coerce")
    return bool(parsed.notna().all())


def infinite_values_check(table: ParsedTable) -> None:
    """Reject numeric columns holding infinity, which no estimator can train on."""
    numeric = table.frame.select_dtypes(include="number")
    for column in numeric.columns:
        infinite = np.isinf(numeric[column].to_numpy(dtype="float64", na_value=np.nan))
        if infinite.any():
            first_line = int(infinite.nonzero()[0][0]) + 2
            raise InvalidInput(
                f"The column '{column}' holds an infinite value (first on line {first_line} "
                "for a CSV), which no model can train on. Replace it with a finite number or "
                "leave the cell empty.",
                field="file",
            )


def target_check(table: ParsedTable, *, target: str, task_type: str) -> list[str]:
    """Check the target column for the project's task type and return warnings."""
    columns = [str(name) for name in table.frame.columns]
    if target not in columns:
        raise InvalidInput(
            f"The target column '{target}' is not in the file. Available columns: "
            f"{', '.join(columns)}.",
            field="target",
        )
    if len(columns) < 2:
        raise InvalidInput(
            "The file has only the target column. Add at least one feature column.",
            field="file",
        )

    values = table.frame[target]
    missing = int(values.isna().sum())
    if missing == len(values):
        raise InvalidInput(f"The target column '{target}' has no values.", field="target")
    warnings: list[str] = []
    if missing:
        first_line = int(values.isna().to_numpy().nonzero()[0][0]) + 2
        warnings.append(
            f"The target column '{target}' is missing in {missing} of {len(values)} rows "
            f"(first on line {first_line} for a CSV). Training skips those rows."
        )

    present = values.dropna()
    if len(present) < MIN_TRAINING_ROWS:
        warnings.append(
            f"Only {len(present)} rows have a target value; training needs at least "
            f"{MIN_TRAINING_ROWS}, so every iteration on this version will fail."
        )
    if task_type == "classification" and present.nunique() < 2:
        raise InvalidInput(
            f"The target column '{target}' has a single value ({present.iloc[0]}). "
            "Classification needs at least two classes.",
            field="target",
        )
    if task_type == "regression" and not pd.api.types.is_numeric_dtype(present):
        raise InvalidInput(
            f"The target column '{target}' is not numeric (type {values.dtype}), so it "
            "cannot be the target of a regression project.",
            field="target",
        )
    if task_type == "regression" and pd.api.types.is_bool_dtype(present):
        raise InvalidInput(
            f"The target column '{target}' is boolean. Frame the project as classification.",
            field="target",
        )
    return warnings
