"""Infer each column's kind and summarize it, on the Arrow table, without a pandas copy."""

import math
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
# Distinct counts of numeric columns are exact up to this many distinct values and estimated
# above it. An exact count of a high-cardinality column costs more than the rest of its
# profile together: 65-150 ms per million distinct floats with pyarrow 25 on a shared 2-core
# machine, against about 5 ms for the sketch. The portal's decisions on a numeric column's
# distinct count (fewer than 2 classes, more than 50) sit far below this bound. Text columns
# are always counted exactly, because their top values need every value's count anyway.
DISTINCT_EXACT_MAX = 10_000
# A sketch of 2**14 one-byte registers: a relative standard error of 1.04 / sqrt(2**14), 0.81 %.
SKETCH_PRECISION = 14
DISTINCT_RELATIVE_ERROR = 1.04 / math.sqrt(2**SKETCH_PRECISION)
# Estimates up to this count, eight standard errors above DISTINCT_EXACT_MAX, are replaced by
# an exact count. A column with at most DISTINCT_EXACT_MAX distinct values is therefore
# estimated only when the sketch errs by more than eight standard errors.
DISTINCT_EXACT_RECHECK = DISTINCT_EXACT_MAX * (1 + 8 * DISTINCT_RELATIVE_ERROR)
# Integer columns whose values span at most this many integers are counted exactly in an
# array with one 8-byte count per integer (8 MiB at most).
INTEGER_COUNTS_MAX_SPAN = 1 << 20
# The sketch hashes this many values at a time, so its temporary arrays stay in the CPU cache.
SKETCH_BLOCK_SIZE = 1 << 16
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
    ``distinct_estimated`` is true where the distinct count is an estimate (see
    ``DISTINCT_EXACT_MAX``), and false where it is exact.
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
        # NOTE: on a 2-core machine that other work kept busy, benchmarks/ingest measured the
        # pool no faster than one thread (0.50 s against 0.44 s for a million rows).
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
    entry: dict[str, Any] = {"name": name, "kind": kind}
    if kind in {ColumnKind.NUMERIC, ColumnKind.INTEGER}:
        summary = _numeric_profile(column)
        missing = column.null_count + summary.pop("nans")
    else:
        if counts is None:
            counts = _value_counts(column)
        missing = column.null_count + nan_count(column)
        summary = {
            "distinct": len(counts),
            "distinct_estimated": False,
            "top_values": _top_values(counts),
        }
    entry["missing"] = missing
    entry["missing_share"] = round(missing / rows, 4) if rows else 0.0
    entry.update(summary)
    return entry


def _numeric_profile(column: pa.ChunkedArray) -> dict[str, Any]:
    """Return the NaN count, distinct count, min, max, mean and histogram of a numeric column.

    The non-null values are copied once into one numpy array (8 MiB per million float64
    values, none for a single chunk without nulls). Each statistic is then one numpy call,
    which releases the GIL, so the columns of ``table_describe``'s thread pool run in parallel.
    """
    values = _present_values(column)
    nans = 0
    finite = values
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        not_nan = ~np.isnan(values)
        nans = int(values.size - np.count_nonzero(not_nan))
        values = values[not_nan]
        finite = values[np.isfinite(values)]
    if not finite.size:
        distinct, estimated = _numeric_distinct(column, values, nans=nans)
        return {
            "nans": nans,
            "distinct": distinct,
            "distinct_estimated": estimated,
            "min": None,
            "max": None,
            "mean": None,
            "histogram": [],
        }

    low = finite.min()
    high = finite.max()
    value_counts = _integer_value_counts(finite, low=low, high=high)
    if value_counts is not None:
        # Binning each integer once, weighted by its count, gives the same bins as binning
        # every row, because equal values always fall into the same bin.
        present = np.flatnonzero(value_counts)
        distinct, estimated = int(present.size), False
        histogram_counts, edges = _histogram(
            present.astype(finite.dtype) + low,
            low=low,
            high=high,
            weights=value_counts[present],
        )
    else:
        distinct, estimated = _numeric_distinct(column, values, nans=nans)
        histogram_counts, edges = _histogram(finite, low=low, high=high)
    return {
        "nans": nans,
        "distinct": distinct,
        "distinct_estimated": estimated,
        "min": _json_number(low),
        "max": _json_number(high),
        "mean": _json_number(finite.sum(dtype=np.float64) / finite.size),
        "histogram": [
            {"low": _json_number(bin_low), "high": _json_number(bin_high), "count": int(count)}
            for bin_low, bin_high, count in zip(
                edges[:-1], edges[1:], histogram_counts, strict=True
            )
        ],
    }


def _histogram(
    values: "np.ndarray[Any, Any]",
    *,
    low: Any,
    high: Any,
    weights: "np.ndarray[Any, Any] | None" = None,
) -> tuple["np.ndarray[Any, Any]", "np.ndarray[Any, Any]"]:
    """Return the counts and edges of ``HISTOGRAM_BINS`` equal-width bins from low to high.

    A range too narrow for float64 to hold distinct edges, such as integers near 2**63 that
    differ by less than 2**10, gets a single bin over the whole range.
    """
    try:
        # A bin count with a range takes numpy's equal-width path, which is much faster than
        # passing the edges.
        counts, edges = np.histogram(
            values, bins=HISTOGRAM_BINS, range=(float(low), float(high)), weights=weights
        )
    except ValueError:
        total = values.size if weights is None else weights.sum()
        counts, edges = np.array([total]), np.array([float(low), float(high)])
    return counts.astype(np.int64), edges


def _present_values(column: pa.ChunkedArray) -> "np.ndarray[Any, Any]":
    """Return the non-null values in one array: integers as they are, other numbers as float64."""
    if pa.types.is_decimal(column.type) or pa.types.is_floating(column.type):
        column = pc.cast(column, pa.float64())
    if column.null_count:
        column = pc.drop_null(column)
    if column.num_chunks == 0:
        return np.empty(0, dtype=column.type.to_pandas_dtype())
    return np.asarray(column.to_numpy())


def _integer_value_counts(
    values: "np.ndarray[Any, Any]", *, low: Any, high: Any
) -> "np.ndarray[Any, Any] | None":
    """Return the count of each integer from ``low`` to ``high``, or None when that costs more.

    Counting into an array indexed by value is exact and several times faster than hashing,
    as long as the range spans no more integers than there are values.
    """
    if values.dtype.kind not in "iu":
        return None
    span = int(high) - int(low) + 1
    if span > min(values.size, INTEGER_COUNTS_MAX_SPAN):
        return None
    # Widening first keeps the subtraction from overflowing a narrow type, such as int8
    # values from -100 to 100.
    wide = np.int64 if values.dtype.kind == "i" else np.uint64
    offsets = values.astype(wide, copy=False) - wide(low)
    return np.bincount(offsets.astype(np.intp, copy=False), minlength=span)


def _numeric_distinct(
    column: pa.ChunkedArray, values: "np.ndarray[Any, Any]", *, nans: int
) -> tuple[int, bool]:
    """Return the distinct count of the non-NaN ``values`` and whether it is an estimate.

    Infinities count as values, as in Arrow. The count is exact when the column has at most
    ``DISTINCT_EXACT_MAX`` distinct values, and otherwise a HyperLogLog estimate.
    """
    if values.size <= DISTINCT_EXACT_MAX:
        return _arrow_distinct(column, nans=nans), False
    estimate = distinct_estimate(values)
    if estimate <= DISTINCT_EXACT_RECHECK:
        return _arrow_distinct(column, nans=nans), False
    return estimate, True


def _arrow_distinct(column: pa.ChunkedArray, *, nans: int) -> int:
    distinct = int(pc.count_distinct(column, mode="only_valid").as_py())
    # Arrow counts NaN as one more distinct value, pandas does not.
    return distinct - (1 if nans else 0)


def distinct_estimate(values: "np.ndarray[Any, Any]") -> int:
    """Estimate the number of distinct values in a numeric array with a HyperLogLog sketch.

    The relative standard error is ``DISTINCT_RELATIVE_ERROR`` (0.81 %), so about 99.7 % of
    estimates fall within 2.4 % of the exact count. Values are hashed by their bits as 64-bit
    integers or float64, so 0.0 and -0.0 count as two values, as in Arrow's
    ``count_distinct``. The hash is deterministic, so the same values give the same estimate.
    """
    if values.dtype.kind == "f":
        bits = values.astype(np.float64, copy=False).view(np.uint64)
    else:
        bits = values.astype(np.int64, copy=False).view(np.uint64)
    registers = np.zeros(1 << SKETCH_PRECISION, dtype=np.uint8)
    remainder_bits = 64 - SKETCH_PRECISION
    remainder_mask = np.uint64((1 << remainder_bits) - 1)
    for start in range(0, bits.size, SKETCH_BLOCK_SIZE):
        hashed = _mix64(bits[start : start + SKETCH_BLOCK_SIZE])
        register = (hashed >> np.uint64(remainder_bits)).astype(np.intp)
        # The rank is the position of the first one bit in the remaining 50 bits, counted
        # from 1, or 51 when they are all zero. A float64 represents integers below 2**53
        # exactly, so frexp's exponent is the bit length.
        bit_length = np.frexp((hashed & remainder_mask).astype(np.float64))[1]
        rank = (remainder_bits + 1 - bit_length).astype(np.uint8)
        np.maximum.at(registers, register, rank)
    return _sketch_cardinality(registers, remainder_bits=remainder_bits)


def _mix64(bits: "np.ndarray[Any, Any]") -> "np.ndarray[Any, Any]":
    """Hash 64-bit words with the SplitMix64 finalizer.

    Every input bit changes about half of the output bits, so nearby values such as
    consecutive integers land in unrelated registers.
    """
    hashed = bits ^ (bits >> np.uint64(30))
    hashed *= np.uint64(0xBF58476D1CE4E5B9)
    hashed ^= hashed >> np.uint64(27)
    hashed *= np.uint64(0x94D049BB133111EB)
    hashed ^= hashed >> np.uint64(31)
    return hashed


def _sketch_cardinality(registers: "np.ndarray[Any, Any]", *, remainder_bits: int) -> int:
    """Return the cardinality estimate of HyperLogLog registers.

    This is O. Ertl's improved raw estimator ("New cardinality estimation algorithms for
    HyperLogLog sketches", 2017), which needs neither linear counting for small counts nor
    HyperLogLog++'s empirical bias tables. On random floats its mean error measured within
    0.3 % from 1,000 to 1,000,000 distinct values.
    """
    size = registers.size
    histogram = np.bincount(registers, minlength=remainder_bits + 2)
    if histogram[0] == size:
        return 0
    denominator = size * _tau(1 - histogram[remainder_bits + 1] / size)
    for rank in range(remainder_bits, 0, -1):
        denominator = 0.5 * (denominator + histogram[rank])
    denominator += size * _sigma(histogram[0] / size)
    return round(size * size / (2 * math.log(2) * denominator))


def _sigma(x: float) -> float:
    """Return x + sum over k >= 1 of x**(2**k) * 2**(k - 1), for 0 <= x < 1."""
    total = x
    weight = 1.0
    while True:
        x *= x
        previous = total
        total += x * weight
        weight += weight
        if total == previous:
            return total


def _tau(x: float) -> float:
    """Return (1 - x - sum over k >= 1 of (1 - x**(2**-k))**2 * 2**-k) / 3, for 0 <= x <= 1."""
    if x in (0.0, 1.0):
        return 0.0
    total = 1 - x
    weight = 1.0
    while True:
        x = math.sqrt(x)
        previous = total
        weight *= 0.5
        total -= (1 - x) ** 2 * weight
        if total == previous:
            return total / 3


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
