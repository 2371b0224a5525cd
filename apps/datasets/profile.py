"""Infer each column's kind and summarize it, on the Arrow table, without a pandas copy."""

import os
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# A text column counts as categorical when it has at most this many distinct values, or when
# distinct values make up at most half of its rows. A more varied column counts as free text.
CATEGORICAL_MAX_DISTINCT = 50
HISTOGRAM_BINS = 10
TOP_VALUES = 10
# Category labels longer than this are cut in the profile, which only serves to display them.
PROFILE_VALUE_MAX_LENGTH = 80
# Smaller tables are profiled column after column, because starting threads costs more there.
PARALLEL_PROFILE_MIN_ROWS = 100_000
DATE_SAMPLE_SIZE = 200
ISO_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}")


class ColumnKind:
    NUMERIC = "numeric"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CATEGORICAL = "categorical"
    DATETIME = "datetime"
    TEXT = "text"


def schema_infer(table: pa.Table) -> list[dict[str, str]]:
    return table_describe(table)[0]


def profile_compute(table: pa.Table, *, schema: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Summarize each column: missing share, distinct count, and a histogram.

    Numeric and integer columns also get min, max and mean, and a histogram of
    ``HISTOGRAM_BINS`` equal-width bins over their finite values. Every other column gets its
    ``TOP_VALUES`` most frequent values. Non-finite numbers are stored as None, because JSON
    and PostgreSQL's jsonb have no NaN. NaN counts as missing, as in pandas.
    """
    kinds = {column["name"]: column["kind"] for column in schema}
    return [
        _column_profile(name, table.column(index), kind=kinds[name])
        for index, name in enumerate(table.column_names)
    ]


def table_describe(table: pa.Table) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """Return the schema and the profile, computing each column's distinct values once."""
    columns = list(zip(table.column_names, table.columns, strict=True))
    if table.num_rows >= PARALLEL_PROFILE_MIN_ROWS and len(columns) > 1:
        # Arrow compute kernels and numpy release the GIL, so columns profile in parallel.
        with ThreadPoolExecutor(max_workers=min(len(columns), os.cpu_count() or 1)) as pool:
            described = list(pool.map(lambda item: _column_describe(*item), columns))
    else:
        described = [_column_describe(name, column) for name, column in columns]
    schema = [column for column, _ in described]
    profile = [entry for _, entry in described]
    return schema, profile


def _column_describe(name: str, column: pa.ChunkedArray) -> tuple[dict[str, str], dict[str, Any]]:
    counts = None if _is_number(column.type) else _value_counts(column)
    kind = column_kind(column, distinct=None if counts is None else len(counts))
    schema = {"name": name, "dtype": pandas_dtype(column), "kind": kind}
    return schema, _column_profile(name, column, kind=kind, counts=counts)


def pandas_dtype(column: pa.ChunkedArray) -> str:
    """Return the pandas dtype this column gets in ``dataset_frame_read``'s frame."""
    if column.null_count and pa.types.is_integer(column.type):
        return "float64"
    if column.null_count and pa.types.is_boolean(column.type):
        return "object"
    empty = pa.chunked_array([], type=column.type).to_pandas(date_as_object=False)
    return str(empty.dtype)


def column_kind(column: pa.ChunkedArray, *, distinct: int | None = None) -> str:
    column_type = column.type
    if pa.types.is_boolean(column_type):
        return ColumnKind.BOOLEAN
    if pa.types.is_temporal(column_type):
        return ColumnKind.DATETIME
    if pa.types.is_integer(column_type):
        return ColumnKind.INTEGER
    if _is_number(column_type):
        return ColumnKind.NUMERIC
    present = len(column) - column.null_count
    if present == 0:
        return ColumnKind.CATEGORICAL
    if _is_text(column_type) and _looks_like_dates(column):
        return ColumnKind.DATETIME
    if distinct is None:
        distinct = len(_value_counts(column))
    if distinct <= CATEGORICAL_MAX_DISTINCT or distinct <= present / 2:
        return ColumnKind.CATEGORICAL
    return ColumnKind.TEXT


def _is_number(column_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(column_type)
        or pa.types.is_floating(column_type)
        or pa.types.is_decimal(column_type)
    )


def _is_text(column_type: pa.DataType) -> bool:
    return bool(pa.types.is_string(column_type) or pa.types.is_large_string(column_type))


def _looks_like_dates(column: pa.ChunkedArray) -> bool:
    sample: list[str] = []
    for chunk in column.chunks:
        sample.extend(chunk.slice(0, DATE_SAMPLE_SIZE).drop_null().to_pylist())
        if len(sample) >= DATE_SAMPLE_SIZE:
            break
    # ISO 8601 only: guessing day-first or month-first formats would misread half the world.
    if not sample or not all(ISO_DATE_PREFIX.match(value) for value in sample):
        return False
    parsed = pd.to_datetime(pd.Series(sample), format="ISO8601", errors="coerce")
    return bool(parsed.notna().all())


def nan_count(column: pa.ChunkedArray) -> int:
    if not pa.types.is_floating(column.type):
        return 0
    return int(pc.sum(pc.is_nan(column)).as_py() or 0)


def _value_counts(column: pa.ChunkedArray) -> pa.StructArray:
    """Return each non-null value with its count, in order of first appearance."""
    counts = pc.value_counts(column)
    return counts.filter(pc.is_valid(counts.field("values")))


def _column_profile(
    name: str,
    column: pa.ChunkedArray,
    *,
    kind: str,
    counts: pa.StructArray | None = None,
) -> dict[str, Any]:
    rows = len(column)
    nans = nan_count(column)
    missing = column.null_count + nans
    entry: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "missing": missing,
        "missing_share": round(missing / rows, 4) if rows else 0.0,
    }
    if kind in {ColumnKind.NUMERIC, ColumnKind.INTEGER}:
        # NOTE: exact distinct counts of high-cardinality float columns are the largest cost
        # of the profile (about 20-50 ms per million values on a 2-core machine), and the
        # reason the full ingest misses 1.3x pyarrow's parse time in benchmarks/ingest.
        distinct = pc.count_distinct(column, mode="only_valid").as_py()
        # Arrow counts NaN as one more distinct value, pandas does not.
        entry["distinct"] = int(distinct) - (1 if nans else 0)
        entry.update(_numeric_profile(column))
        return entry
    if counts is None:
        counts = _value_counts(column)
    entry["distinct"] = len(counts)
    entry["top_values"] = _top_values(counts)
    return entry


def _numeric_profile(column: pa.ChunkedArray) -> dict[str, Any]:
    # Chunk by chunk, so no copy of the whole column is made.
    finite_chunks = [_finite_values(chunk) for chunk in column.chunks]
    finite_chunks = [values for values in finite_chunks if values.size]
    if not finite_chunks:
        return {"min": None, "max": None, "mean": None, "histogram": []}
    low = min(float(values.min()) for values in finite_chunks)
    high = max(float(values.max()) for values in finite_chunks)
    total = sum(float(values.sum()) for values in finite_chunks)
    size = sum(values.size for values in finite_chunks)
    counts = np.zeros(HISTOGRAM_BINS, dtype=np.int64)
    edges = np.histogram_bin_edges(finite_chunks[0], bins=HISTOGRAM_BINS, range=(low, high))
    for values in finite_chunks:
        # A bin count with a range takes numpy's equal-width path, which is much faster than
        # passing the edges, and gives every chunk the same edges.
        counts += np.histogram(values, bins=HISTOGRAM_BINS, range=(low, high))[0]
    return {
        "min": _json_number(low),
        "max": _json_number(high),
        "mean": _json_number(total / size),
        "histogram": [
            {"low": _json_number(bin_low), "high": _json_number(bin_high), "count": int(count)}
            for bin_low, bin_high, count in zip(edges[:-1], edges[1:], counts, strict=True)
        ],
    }


def _finite_values(chunk: pa.Array) -> "np.ndarray[Any, Any]":
    if pa.types.is_integer(chunk.type) and chunk.null_count == 0:
        # Integers are finite, and reading them in place avoids a float copy.
        return chunk.to_numpy()
    if pa.types.is_decimal(chunk.type):
        chunk = pc.cast(chunk, pa.float64())
    values = np.asarray(chunk.to_numpy(zero_copy_only=False), dtype=np.float64)
    finite = np.isfinite(values)
    return values if finite.all() else values[finite]


def _top_values(counts: pa.StructArray) -> list[dict[str, Any]]:
    # A stable sort keeps values with equal counts in order of first appearance.
    order = pc.array_sort_indices(counts.field("counts"), order="descending")
    top = counts.take(order[:TOP_VALUES])
    return [
        {"value": str(item["values"])[:PROFILE_VALUE_MAX_LENGTH], "count": int(item["counts"])}
        for item in top.to_pylist()
    ]


def _json_number(value: Any) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None
