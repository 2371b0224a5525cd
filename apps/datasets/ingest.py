"""Read and check uploaded tables: stream to disk while hashing, detect the format, parse, profile.

Nothing here touches the database or the storage backend, so services can run every check
before they write anything. CSV files are parsed by ``pyarrow.csv`` into one Arrow table,
which the checks and the profile read in place, so no second copy of the data is made.
"""

import csv
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pa_parquet
from django.core.files.uploadedfile import UploadedFile

from apps.core.errors import InvalidInput, PayloadTooLarge
from apps.datasets.dialect import (
    CSV_DELIMITERS,
    CSV_ENCODINGS,
    CSV_QUOTECHARS,
    SNIFF_BYTES,
    CsvDialect,
    csv_dialect_detect,
    encoding_detect,
    head_encoding_detect,
    head_read,
    head_text,
    separators_detect,
)
from apps.datasets.models import DatasetFormat
from apps.datasets.profile import (
    ColumnKind,
    column_kind,
    nan_count,
    pandas_dtype,
    profile_compute,
    schema_infer,
    table_describe,
)

__all__ = [
    "CSV_DELIMITERS",
    "CSV_ENCODINGS",
    "CSV_QUOTECHARS",
    "ColumnKind",
    "CsvDialect",
    "ParsedTable",
    "column_kind",
    "csv_dialect_detect",
    "dataset_frame_read",
    "encoding_detect",
    "format_detect",
    "infinite_values_check",
    "profile_compute",
    "schema_infer",
    "table_parse",
    "target_check",
    "target_warnings",
    "upload_length_check",
    "upload_spool",
]

logger = logging.getLogger(__name__)

# Fewer labelled rows than this leave too little to split into training and holdout rows.
MIN_TRAINING_ROWS = 10
# A classification target with more classes than this is more likely an id or a number.
MAX_CLASSES_BEFORE_WARNING = 50

PARQUET_MAGIC = b"PAR1"
# Room for the multipart boundaries and the other form fields around the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# Column types are inferred from the first block this size, then fixed for the whole parse.
# Fixed types let Arrow convert and free each parsed block at once, which keeps the peak
# memory near the size of the final table instead of holding every parsed block.
TYPE_INFERENCE_BLOCK_BYTES = 1024 * 1024
# A column whose later values do not fit the type inferred from the first block is parsed
# again with its type inferred over the whole file. After this many such parses every
# column is inferred over the whole file.
TYPE_RETRIES = 3
CONVERSION_ERROR_COLUMN = re.compile(r"In CSV column #(\d+): CSV conversion error")
ENCODING_CHECK_CHUNK_BYTES = 1024 * 1024
# Encodings tried in turn when later bytes contradict the one detected from the head.
ENCODING_FALLBACKS = {"utf-8": ("cp1252", "latin-1"), "cp1252": ("latin-1",)}
# pyarrow decodes UTF-8 natively and every other encoding through Python's codecs.
ARROW_NATIVE_ENCODINGS = {"utf-8": "utf8", "utf-8-sig": "utf8"}


@dataclass
class ParsedTable:
    format: str
    table: pa.Table
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
        return int(self.table.num_rows)

    @property
    def column_names(self) -> list[str]:
        return [str(name) for name in self.table.column_names]


@dataclass(frozen=True)
class SpooledUpload:
    """An upload copied to a local temporary file, with its hash and the first bytes."""

    path: Path
    sha256: str
    size_bytes: int
    head: bytes


def upload_spool(uploaded_file: UploadedFile[bytes], *, max_bytes: int) -> SpooledUpload:
    """Copy the upload chunk by chunk to a temporary file, hashing it on the way.

    The caller deletes ``path``. Raises PayloadTooLarge as soon as the copy passes ``max_bytes``.
    """
    if uploaded_file.size is not None and uploaded_file.size > max_bytes:
        raise upload_too_large(max_bytes)
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
                    raise upload_too_large(max_bytes)
                if len(head) < 8:
                    head = (head + chunk)[:8]
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return SpooledUpload(path=path, sha256=digest.hexdigest(), size_bytes=size, head=head)


def upload_too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The file is larger than the {max_bytes / 1024 / 1024:.0f} MiB upload limit. "
        "Upload a sample or a Parquet file, which is smaller than the same CSV.",
        field="file",
    )


def upload_length_check(meta: Mapping[str, Any], *, max_bytes: int) -> None:
    """Raise PayloadTooLarge when the request's declared length exceeds the upload limit.

    Call it before anything reads the request body, so an oversized upload gets its 413
    before its bytes are received. The limit allows ``MULTIPART_OVERHEAD_BYTES`` more for the
    multipart boundaries and the other form fields. A request without a declared length is
    left to ``upload_spool``, which stops copying at the limit.
    """
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        return
    if declared > max_bytes + MULTIPART_OVERHEAD_BYTES:
        raise upload_too_large(max_bytes)


def format_detect(*, filename: str, head: bytes) -> str:
    if filename.lower().endswith(".parquet") or head.startswith(PARQUET_MAGIC):
        return DatasetFormat.PARQUET
    return DatasetFormat.CSV


def table_parse(
    path: Path, *, file_format: str, dialect_choice: Mapping[str, str] | None = None
) -> ParsedTable:
    """Parse a spooled file and infer its schema and profile. Raises InvalidInput on ``file``.

    ``dialect_choice`` may hold ``encoding``, ``delimiter`` and ``quotechar`` chosen by the
    user. Each given value replaces what detection finds, and the file is then read exactly
    so, without the encoding fallbacks of detection.
    """
    if path.stat().st_size == 0:
        raise InvalidInput("The file is empty.", field="file")
    if file_format == DatasetFormat.PARQUET:
        table = _parquet_read(path)
        used_dialect = None
    else:
        dialect = _dialect_choose(path, choice=dialect_choice or {})
        table, used_dialect = csv_table_read(path, dialect=dialect)
        if table.num_rows == 0:
            raise InvalidInput("The file has a header but no data rows.", field="file")
    schema, profile = table_describe(table)
    return ParsedTable(
        format=file_format, table=table, schema=schema, dialect=used_dialect, profile=profile
    )


def _dialect_choose(path: Path, *, choice: Mapping[str, str]) -> CsvDialect | None:
    allowed = {
        "encoding": CSV_ENCODINGS,
        "delimiter": tuple(CSV_DELIMITERS),
        "quotechar": tuple(CSV_QUOTECHARS),
    }
    given = {key: value for key, value in choice.items() if key in allowed and value}
    if not given:
        return None
    for key, value in given.items():
        if value not in allowed[key]:
            options = ", ".join(repr(option) for option in allowed[key])
            raise InvalidInput(f"The {key} {value!r} is not one of {options}.", field=key)
    detected = csv_dialect_detect(path)
    return CsvDialect(
        encoding=given.get("encoding", detected.encoding),
        delimiter=given.get("delimiter", detected.delimiter),
        quotechar=given.get("quotechar", detected.quotechar),
    )


def dataset_frame_read(
    path: str | Path, *, file_format: str, detected: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Read a stored dataset file into a frame, with the same parser and options as at upload.

    ``detected`` is the dataset version's stored ``detected`` field. Without it the encoding
    and separators of a CSV are detected again, which gives the upload's result for the same
    bytes as long as the detection rules stay unchanged. Numbers, booleans and text get the
    dtypes that ``pandas.read_csv`` gives them. Columns that Arrow reads as dates or
    timestamps become ``datetime64`` columns.
    """
    if file_format == DatasetFormat.PARQUET:
        table = _parquet_read(Path(path))
    else:
        dialect = CsvDialect.from_json(detected) if detected else None
        table, _ = csv_table_read(Path(path), dialect=dialect)
    return table.to_pandas(date_as_object=False)


def csv_table_read(path: Path, *, dialect: CsvDialect | None = None) -> tuple[pa.Table, CsvDialect]:
    """Parse a CSV file into an Arrow table and return it with the dialect that read it.

    Without ``dialect`` the dialect is detected from the head of the file, and a detected
    encoding is replaced when the whole file contradicts it: UTF-8 by cp1252, and cp1252 by
    ISO-8859-1. A given ``dialect`` is used as it is.
    """
    head = head_read(path)
    if dialect is not None:
        _binary_check(head, encoding=dialect.encoding)
        return _csv_decoded_read(path, dialect=dialect, fallbacks=()), dialect
    encoding = head_encoding_detect(head)
    text = head_text(head, encoding=encoding)
    detected = separators_detect(text, encoding=encoding, truncated=len(head) == SNIFF_BYTES)
    _binary_check(head, encoding=encoding)
    fallbacks = ENCODING_FALLBACKS.get(encoding, ())
    for candidate in (encoding, *fallbacks):
        dialect = _with_encoding(detected, candidate)
        try:
            return _csv_decoded_read(path, dialect=dialect, fallbacks=fallbacks), dialect
        except _EncodingMismatch:
            logger.info("CSV is not %s beyond its first bytes, trying the next encoding", candidate)
    raise _not_valid_text(path, encoding=encoding)


class _EncodingMismatch(Exception):
    """The file has bytes that the encoding under trial cannot decode."""


def _csv_decoded_read(path: Path, *, dialect: CsvDialect, fallbacks: tuple[str, ...]) -> pa.Table:
    """Parse with ``dialect``. Raise _EncodingMismatch when fallbacks remain, else InvalidInput."""
    try:
        table = _csv_arrow_read(path, dialect=dialect)
    except UnicodeDecodeError:
        if dialect.encoding in ENCODING_FALLBACKS and fallbacks:
            raise _EncodingMismatch from None
        raise _not_valid_text(path, encoding=dialect.encoding) from None
    # pyarrow keeps a column whose bytes are not valid UTF-8 as binary instead of text.
    if _has_undecoded_column(table):
        if dialect.encoding in ENCODING_FALLBACKS and fallbacks:
            raise _EncodingMismatch
        raise _not_valid_text(path, encoding=dialect.encoding)
    return table


def _with_encoding(dialect: CsvDialect, encoding: str) -> CsvDialect:
    return CsvDialect(encoding=encoding, delimiter=dialect.delimiter, quotechar=dialect.quotechar)


def _has_undecoded_column(table: pa.Table) -> bool:
    return any(
        pa.types.is_binary(column_type) or pa.types.is_large_binary(column_type)
        for column_type in table.schema.types
    )


def _binary_check(head: bytes, *, encoding: str) -> None:
    # UTF-16 text is half zero bytes, so there only the decoded text can show binary data.
    if encoding == "utf-16":
        has_nul = "\x00" in head_text(head, encoding=encoding)
    else:
        has_nul = b"\x00" in head
    if has_nul:
        raise InvalidInput(
            "The file is not a text CSV: it contains binary data (a NUL byte) in its first "
            f"{SNIFF_BYTES // 1024} KiB. Upload a CSV or a Parquet file.",
            field="file",
        )


def _not_valid_text(path: Path, *, encoding: str) -> InvalidInput:
    line = _decode_error_line(path, encoding=encoding)
    where = f" (invalid bytes near line {line})" if line else ""
    return InvalidInput(
        f"The file is not valid {encoding} text{where}. Upload a CSV saved as UTF-8, "
        "or a Parquet file.",
        field="file",
    )


def _decode_error_line(path: Path, *, encoding: str) -> int | None:
    """Return the line of the first byte that ``encoding`` cannot decode, None when all decode."""
    decoder = codecs_incremental(encoding)
    line = 1
    with path.open("rb") as raw:
        while True:
            chunk = raw.read(ENCODING_CHECK_CHUNK_BYTES)
            try:
                line += decoder.decode(chunk, final=not chunk).count("\n")
            except UnicodeDecodeError as error:
                prefix = codecs_incremental(encoding, errors="replace").decode(chunk[: error.start])
                return line + prefix.count("\n")
            if not chunk:
                return None


def codecs_incremental(encoding: str, *, errors: str = "strict") -> Any:
    import codecs

    return codecs.getincrementaldecoder(encoding)(errors=errors)


def _csv_arrow_read(path: Path, *, dialect: CsvDialect) -> pa.Table:
    """Parse with pyarrow, types inferred from the first block. Raises InvalidInput on ``file``."""
    invalid_rows: list[pa_csv.InvalidRow] = []

    def invalid_row_record(row: pa_csv.InvalidRow) -> str:
        invalid_rows.append(row)
        return "error"

    read_options = pa_csv.ReadOptions(
        encoding=ARROW_NATIVE_ENCODINGS.get(dialect.encoding, dialect.encoding),
        block_size=TYPE_INFERENCE_BLOCK_BYTES,
    )
    parse_options = pa_csv.ParseOptions(
        delimiter=dialect.delimiter,
        quote_char=dialect.quotechar,
        double_quote=True,
        # Quoted values may span lines. pyarrow then splits blocks at quote-aware boundaries.
        newlines_in_values=True,
        ignore_empty_lines=True,
        invalid_row_handler=invalid_row_record,
    )
    try:
        first_block = pa_csv.open_csv(
            path,
            read_options=read_options,
            parse_options=parse_options,
            convert_options=pa_csv.ConvertOptions(strings_can_be_null=True),
        )
        inferred = first_block.schema
        first_block.close()
        names = [str(name) for name in inferred.names]
        _header_check(names)
        # Columns empty in the first block get their type from the whole file.
        pinned = {
            name: column_type
            for name, column_type in zip(names, inferred.types, strict=True)
            if not pa.types.is_null(column_type)
        }
        return _csv_read_pinned(path, read_options, parse_options, pinned=pinned, names=names)
    except pa.ArrowInvalid as error:
        if invalid_rows:
            raise _ragged_row_error(path, dialect=dialect, row=invalid_rows[0]) from None
        raise _parse_error(error) from None


def _csv_read_pinned(
    path: Path,
    read_options: pa_csv.ReadOptions,
    parse_options: pa_csv.ParseOptions,
    *,
    pinned: dict[str, pa.DataType],
    names: list[str],
) -> pa.Table:
    for _attempt in range(TYPE_RETRIES):
        try:
            return pa_csv.read_csv(
                path,
                read_options=read_options,
                parse_options=parse_options,
                convert_options=pa_csv.ConvertOptions(
                    strings_can_be_null=True, column_types=pinned
                ),
            )
        except pa.ArrowInvalid as error:
            match = CONVERSION_ERROR_COLUMN.search(str(error))
            if match is None:
                raise
            name = names[int(match.group(1))]
            logger.info("column '%s' does not fit its first-block type: %s", name, error)
            pinned.pop(name, None)
    return pa_csv.read_csv(
        path,
        read_options=read_options,
        parse_options=parse_options,
        convert_options=pa_csv.ConvertOptions(strings_can_be_null=True),
    )


def _parse_error(error: pa.ArrowInvalid) -> InvalidInput:
    message = str(error)
    if "Empty CSV file" in message:
        return InvalidInput("The file has no header and no data rows.", field="file")
    logger.info("rejected CSV upload: %s", message)
    return InvalidInput(f"The CSV could not be parsed: {message}", field="file")


def _ragged_row_error(path: Path, *, dialect: CsvDialect, row: pa_csv.InvalidRow) -> InvalidInput:
    """Name the line of the first row whose field count differs from the header's.

    pyarrow does not report line numbers, so the file is read again with the csv module,
    which only happens for a file that is rejected anyway.
    """
    located = _ragged_line_find(path, dialect=dialect)
    if located is not None:
        line, fields, expected = located
    else:
        line, fields, expected = None, row.actual_columns, row.expected_columns
    problem = "too many" if fields > expected else "too few"
    where = f"Line {line}" if line else f"The row '{row.text[:80]}'"
    return InvalidInput(
        f"{where} has {problem} fields: {fields} instead of {expected} as in the header. "
        "Check the quoting and separators on that line.",
        field="file",
    )


def _ragged_line_find(path: Path, *, dialect: CsvDialect) -> tuple[int, int, int] | None:
    """Return (line, fields, expected fields) of the first ragged row, or None if none is found."""
    try:
        with path.open(encoding=dialect.encoding, newline="", errors="replace") as text:
            reader = csv.reader(text, delimiter=dialect.delimiter, quotechar=dialect.quotechar)
            header: list[str] | None = None
            for row in reader:
                if not row:
                    continue
                if header is None:
                    header = row
                elif len(row) != len(header):
                    return reader.line_num, len(row), len(header)
    except csv.Error:
        return None
    return None


def _header_check(names: list[str], *, line: int = 1) -> None:
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
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


def _parquet_read(path: Path) -> pa.Table:
    try:
        table = pa_parquet.read_table(path)
    except (pa.ArrowException, OSError) as error:
        # Arrow's message names the server's temporary file, so it stays in the log.
        logger.info("rejected upload as Parquet: %s", error)
        raise InvalidInput(
            "The file is not a valid Parquet file (its footer or data pages could not be "
            "read). Upload a Parquet file, or a CSV with a .csv name.",
            field="file",
        ) from None
    names = [str(name) for name in table.column_names]
    if not names:
        raise InvalidInput("The Parquet file has no columns.", field="file")
    _header_check(names)
    if table.num_rows == 0:
        raise InvalidInput("The Parquet file has no data rows.", field="file")
    return _parquet_columns_flatten(table)


def _parquet_columns_flatten(table: pa.Table) -> pa.Table:
    """Decode dictionary columns, and reject nested columns, which no recipe can encode."""
    for index, (name, column_type) in enumerate(
        zip(table.column_names, table.schema.types, strict=True)
    ):
        if pa.types.is_dictionary(column_type):
            decoded = pc.cast(table.column(index), column_type.value_type)
            table = table.set_column(index, name, decoded)
        elif pa.types.is_nested(column_type) or pa.types.is_binary(column_type):
            raise InvalidInput(
                f"The Parquet column '{name}' has the type {column_type}, which cannot be "
                "used as a feature. Store it as numbers or text, or drop it.",
                field="file",
            )
    return table


def infinite_values_check(table: ParsedTable) -> None:
    """Reject numeric columns holding infinity, which no estimator can train on."""
    for name, column in zip(table.column_names, table.table.columns, strict=True):
        if not pa.types.is_floating(column.type):
            continue
        infinite = pc.is_inf(column)
        if pc.any(infinite).as_py():
            first_line = int(pc.index(infinite, True).as_py()) + 2
            raise InvalidInput(
                f"The column '{name}' contains an infinite value (first on line {first_line} "
                "for a CSV), which no model can train on. Replace it with a finite number or "
                "leave the cell empty.",
                field="file",
            )


def target_check(table: ParsedTable, *, target: str, task_type: str) -> list[str]:
    """Check the target column for the project's task type and return warnings."""
    columns = table.column_names
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

    values = table.table.column(target)
    rows = len(values)
    missing = values.null_count + nan_count(values)
    if missing == rows:
        raise InvalidInput(f"The target column '{target}' has no values.", field="target")
    column_type = values.type
    column_profile = next(entry for entry in table.profile if entry["name"] == target)
    if task_type == "classification" and column_profile["distinct"] < 2:
        first_value = pc.drop_null(values)[0].as_py()
        raise InvalidInput(
            f"The target column '{target}' has a single value ({first_value}). "
            "Classification needs at least two classes.",
            field="target",
        )
    if task_type == "regression" and pa.types.is_boolean(column_type):
        raise InvalidInput(
            f"The target column '{target}' is boolean. Frame the project as classification.",
            field="target",
        )
    if task_type == "regression" and not (
        pa.types.is_integer(column_type) or pa.types.is_floating(column_type)
    ):
        raise InvalidInput(
            f"The target column '{target}' is not numeric (type {pandas_dtype(values)}), so it "
            "cannot be the target of a regression project.",
            field="target",
        )

    first_missing_line = None
    if missing:
        is_missing = pc.is_null(values, nan_is_null=True)
        first_missing_line = int(pc.index(is_missing, True).as_py()) + 2
    return target_warnings(
        column_profile=column_profile,
        rows=rows,
        task_type=task_type,
        first_missing_line=first_missing_line,
    )


def target_warnings(
    *,
    column_profile: Mapping[str, Any],
    rows: int,
    task_type: str,
    first_missing_line: int | None = None,
) -> list[str]:
    """Return the warnings about a target column that do not stop an upload.

    Only the stored profile is read, so the dataset page shows the same warnings as the
    upload. ``first_missing_line`` adds where the first missing target is, when known.
    """
    target = column_profile["name"]
    missing = int(column_profile["missing"])
    warnings: list[str] = []
    if missing:
        where = f" (first on line {first_missing_line} for a CSV)" if first_missing_line else ""
        warnings.append(
            f"The target column '{target}' is missing in {missing} of {rows} rows{where}. "
            "Training skips those rows."
        )

    labelled = rows - missing
    if labelled < MIN_TRAINING_ROWS:
        warnings.append(
            f"Only {labelled} rows have a target value; training needs at least "
            f"{MIN_TRAINING_ROWS}, so every iteration on this version will fail."
        )
    if task_type != "classification":
        return warnings

    classes = int(column_profile["distinct"])
    if classes > MAX_CLASSES_BEFORE_WARNING:
        warnings.append(
            f"The target column '{target}' has {classes} classes. Check that it is the "
            "column to predict and not an id or a measurement."
        )
    top_values = column_profile.get("top_values") or []
    # The profile lists every class only when there are few enough of them.
    if labelled >= MIN_TRAINING_ROWS and classes == len(top_values):
        single = [str(item["value"]) for item in top_values if int(item["count"]) < 2]
        if single:
            warnings.append(
                f"The classes {', '.join(single)} of '{target}' have a single row each, so "
                "they cannot appear in both the training and the holdout rows."
            )
    return warnings
