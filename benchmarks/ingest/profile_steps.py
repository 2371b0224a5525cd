"""Time the column profile of the ingest benchmark's table, per column and per statistic.

Run from the repository root: ``.venv/bin/python benchmarks/ingest/profile_steps.py
[--rows N]``. The table is generated and parsed as in ``run.py``. Each time is the fastest of
``--repeat`` runs in one thread, so the columns add up to the serial cost of
``table_describe``, which runs them in a thread pool. The statistics of a numeric column are
the numpy and Arrow calls that ``apps.datasets.profile`` makes for it, timed one by one.
"""

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


def _fastest_ms(call: Callable[[], object], *, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def _numeric_steps(column: Any, *, repeat: int) -> dict[str, float]:
    import numpy as np
    import pyarrow.compute as pc

    from apps.datasets import profile

    values = profile._present_values(column)
    low, high = float(values.min()), float(values.max())
    return {
        "to numpy": _fastest_ms(lambda: profile._present_values(column), repeat=repeat),
        "finite check": _fastest_ms(lambda: np.isfinite(values).all(), repeat=repeat),
        "min and max": _fastest_ms(lambda: (values.min(), values.max()), repeat=repeat),
        "sum": _fastest_ms(lambda: values.sum(dtype=np.float64), repeat=repeat),
        "histogram": _fastest_ms(
            lambda: np.histogram(values, bins=profile.HISTOGRAM_BINS, range=(low, high)),
            repeat=repeat,
        ),
        "distinct sketch": _fastest_ms(lambda: profile.distinct_estimate(values), repeat=repeat),
        "distinct exact (Arrow)": _fastest_ms(
            lambda: pc.count_distinct(column, mode="only_valid"), repeat=repeat
        ),
    }


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--rows", type=int, default=1_000_000, help="Rows in the CSV.")
    arguments.add_argument("--repeat", type=int, default=3, help="Runs of each timed call.")
    options = arguments.parse_args()

    sys.path.insert(0, str(REPOSITORY_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from apps.datasets.ingest import csv_table_read
    from apps.datasets.profile import _column_describe, _is_number, table_describe
    from benchmarks.ingest.run import csv_generate

    print(f"load average: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="ingest-profile-") as folder:
        path = Path(folder) / "table.csv"
        csv_generate(path, rows=options.rows)
        table, _ = csv_table_read(path)

    total = 0.0
    for name, column in zip(table.column_names, table.columns, strict=True):
        milliseconds = _fastest_ms(partial(_column_describe, name, column), repeat=options.repeat)
        total += milliseconds
        print(f"{name:12} {column.type!s:8} {milliseconds:7.1f} ms")
    print(f"{'all columns, one thread':30} {total:7.1f} ms")
    pooled = _fastest_ms(lambda: table_describe(table), repeat=options.repeat)
    print(f"{'table_describe, thread pool':30} {pooled:7.1f} ms")

    first_number = next(column for column in table.columns if _is_number(column.type))
    print("statistics of the first numeric column:")
    for step, milliseconds in _numeric_steps(first_number, repeat=options.repeat).items():
        print(f"  {step:28} {milliseconds:7.1f} ms")


if __name__ == "__main__":
    main()
