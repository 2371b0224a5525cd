"""Read and check uploaded tables: stream to disk while hashing, detect the format, parse, profile.

Nothing here touches the database or the storage backend, so services can run every check
before they write anything.
"""

import codecs
import csv
import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping
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

# Separators the delimiter detection chooses from. Anything else reads as a comma-separated file.
CSV_DELIMITERS = ",;\t|"
# The delimiter and quote character are guessed from whole lines within this many leading bytes.
SNIFF_BYTES = 64 * 1024
ENCODING_CHECK_CHUNK_BYTES = 1024 * 1024
HISTOGRAM_BINS = 10
TOP_VALUES = 10
# Category labels longer than this are cut in the profile, which only serves to display them.
PROFILE_VALUE_MAX_LENGTH = 80


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


@dataclass(frozen=True)
class CsvDialect:
    """The text encoding (a Python codec name), delimiter and quote character of a CSV file."""

    encoding: str
    delimiter: str = ","
    quotechar: str = '"'

    def as_json(self) -> dict[str, str]:
        return {"encoding": self.encoding, "delimiter": self.delimiter, "quotechar": self.quotechar}

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> "CsvDialect":
        return cls(
            encoding=str(stored["encoding"]),
            delimiter=str(stored.get("delimiter", ",")),
            quotechar=str(stored.get("quotechar", '"')),
        )


@dataclass
class ParsedTable:
    format: str
    frame: pd.DataFrame
    schema: list[dict[str, str]]
    warnings: list[str] = field(default_factory=list)
    dialect: CsvDialect | None = None
    profile: list[dict[str, Any]] = field(default_factory=list)

    @property
    def detected(self) -> dict[str, str]:
        """The detected CSV encoding and separators, stored so the file is read the same later."""
        return self.dialect.as_json() if self.dialect else {}

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
    """Parse a spooled file and infer its schema. Raises InvalidInput on field ``file``."""
    if path.stat().st_size == 0:
        raise InvalidInput("The file is empty.", field="file")
    if file_format == DatasetFormat.PARQUET:
        frame = _parquet_read(path)
        dialect = None
    else:
        dialect = csv_dialect_detect(path)
        frame = _csv_read(path, dialect=dialect)
    schema = schema_infer(frame)
    return ParsedTable(
        format=file_format,
        frame=frame,
        schema=schema,
        dialect=dialect,
        profile=profile_compute(frame, schema=schema),
    )


def dataset_frame_read(
    path: str | Path, *, file_format: str, detected: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Read a stored dataset file into a frame, with the same options as at upload.

    ``detected`` is the dataset version's stored ``detected`` field. Without it the encoding
    and separators of a CSV are detected again, which gives the upload's result for the same
    bytes as long as the detection rules stay unchanged.
    """
    if file_format == DatasetFormat.PARQUET:
        return _parquet_read(Path(path))
    dialect = CsvDialect.from_json(detected) if detected else csv_dialect_detect(Path(path))
    return _csv_frame_read(Path(path), dialect=dialect)


def _csv_frame_read(path: Path, *, dialect: CsvDialect) -> pd.DataFrame:
    return pd.read_csv(
        path,
        encoding=dialect.encoding,
        sep=dialect.delimiter,
        quotechar=dialect.quotechar,
        skip_blank_lines=True,
        low_memory=False,
    )


def csv_dialect_detect(path: Path) -> CsvDialect:
    """Detect the encoding, delimiter and quote character of a CSV file."""
    encoding = encoding_detect(path)
    with path.open(encoding=encoding, newline="") as text:
        try:
            sample = text.read(SNIFF_BYTES)
        except UnicodeDecodeError:
            # The full check in _csv_check reports the line, so any dialect will do until then.
            return CsvDialect(encoding=encoding)
    # A cut last line would skew the field counts that the sniffer compares.
    if len(sample) == SNIFF_BYTES and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=CSV_DELIMITERS)
    except csv.Error:
        # The sniffer wants a separator that every sampled line uses equally often, which a
        # file with ragged rows lacks. The header then decides, so that the ragged rows get
        # reported by line in _csv_check.
        return CsvDialect(encoding=encoding, delimiter=_header_delimiter(sample))
    quotechar = sniffed.quotechar if sniffed.quotechar in {'"', "'"} else '"'
    return CsvDialect(encoding=encoding, delimiter=sniffed.delimiter, quotechar=quotechar)


def _header_delimiter(sample: str) -> str:
    """Return the candidate separator found most often on the first line, comma on a tie or none."""
    first_line = sample.split("\n", 1)[0]
    counts = {delimiter: first_line.count(delimiter) for delimiter in CSV_DELIMITERS}
    best = max(CSV_DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] > counts[","] else ","


def encoding_detect(path: Path) -> str:
    """Return the codec that decodes the file: by its byte order mark, else UTF-8, else cp1252.

    Bytes that are not valid UTF-8 are read as cp1252, the Windows variant of Latin-1, and
    as ISO-8859-1 when they use the five byte values that cp1252 leaves undefined.
    """
    with path.open("rb") as raw:
        head = raw.read(4)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if _decodes_as(path, "utf-8"):
        return "utf-8"
    if _decodes_as(path, "cp1252"):
        return "cp1252"
    return "latin-1"


def _decodes_as(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as raw:
            while chunk := raw.read(ENCODING_CHECK_CHUNK_BYTES):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _csv_check(path: Path, *, dialect: CsvDialect) -> list[str]:
    """Walk the CSV once with the csv module and return its header.

    pandas silently pads rows with too few fields and renames duplicate headers, so the
    structure is checked here first, row by row, without loading the file into memory.
    """
    with path.open(encoding=dialect.encoding, newline="") as text:
        reader = csv.reader(text, delimiter=dialect.delimiter, quotechar=dialect.quotechar)
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
                f"The file is not valid {dialect.encoding} text (invalid bytes near line "
                f"{max(reader.line_num, 1)}). Upload a CSV saved as UTF-8, or a Parquet file.",
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


def _csv_read(path: Path, *, dialect: CsvDialect) -> pd.DataFrame:
    # UTF-16 text is half zero bytes, so only the decoded text can show binary data there,
    # which the csv module reports as a NUL character in _csv_check.
    if dialect.encoding != "utf-16":
        with path.open("rb") as raw:
            if b"\x00" in raw.read(8192):
                raise InvalidInput(
                    "The file is not a text CSV: it contains binary data. "
                    "Upload a CSV or a Parquet file.",
                    field="file",
                )
    header = _csv_check(path, dialect=dialect)
    try:
        frame = _csv_frame_read(path, dialect=dialect)
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


def profile_compute(frame: pd.DataFrame, *, schema: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Summarize each column: missing share, distinct count, and a histogram.

    Numeric and integer columns also get min, max and mean, and a histogram of
    ``HISTOGRAM_BINS`` equal-width bins over their finite values. Every other column gets its
    ``TOP_VALUES`` most frequent values. Non-finite numbers are stored as None, because JSON
    and PostgreSQL's jsonb have no NaN.
    """
    rows = len(frame)
    profile: list[dict[str, Any]] = []
    for column in schema:
        series = frame[column["name"]]
        missing = int(series.isna().sum())
        entry: dict[str, Any] = {
            "name": column["name"],
            "kind": column["kind"],
            "missing": missing,
            "missing_share": round(missing / rows, 4) if rows else 0.0,
            "distinct": int(series.nunique(dropna=True)),
        }
        if column["kind"] in {ColumnKind.NUMERIC, ColumnKind.INTEGER}:
            entry.update(_numeric_profile(series))
        else:
            entry["top_values"] = _top_values(series)
        profile.append(entry)
    return profile


def _numeric_profile(series: "pd.Series[Any]") -> dict[str, Any]:
    values = series.to_numpy(dtype="float64", na_value=np.nan)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"min": None, "max": None, "mean": None, "histogram": []}
    counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
    return {
        "min": _json_number(finite.min()),
        "max": _json_number(finite.max()),
        "mean": _json_number(finite.mean()),
        "histogram": [
            {"low": _json_number(low), "high": _json_number(high), "count": int(count)}
            for low, high, count in zip(edges[:-1], edges[1:], counts, strict=True)
        ],
    }


def _top_values(series: "pd.Series[Any]") -> list[dict[str, Any]]:
    counts = series.value_counts(dropna=True).head(TOP_VALUES)
    return [
        {"value": str(value)[:PROFILE_VALUE_MAX_LENGTH], "count": int(count)}
        for value, count in counts.items()
    ]


def _json_number(value: Any) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None


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
                f"The column '{column}' contains an infinite value (first on line {first_line} "
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
