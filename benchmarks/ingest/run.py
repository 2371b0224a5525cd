"""Time and measure the portal's CSV parse against pyarrow's reader on a generated file.

Run from the repository root: ``.venv/bin/python benchmarks/ingest/run.py [--rows N]``.
Each measurement runs in its own subprocess, so one parse's memory cannot inflate another's
peak. Time is the wall-clock time of the parse call. Peak memory is the subprocess's peak
resident memory after the parse minus its value just before, so the interpreter and the
imported libraries are not counted. Both parsers read the same file in the same run, in
alternating order, ``--repeat`` times each. The reported time is each parser's fastest run,
because on a shared machine the slower runs measure the other load. The reported peak is
each parser's largest.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
COLUMNS = 20
TIME_RATIO_GOAL = 1.3
MEMORY_RATIO_GOAL = 3.0


def csv_generate(path: Path, *, rows: int, seed: int = 7) -> None:
    """Write a CSV of ``rows`` rows: 15 float, 2 integer, 2 text columns and a 0/1 label."""
    import numpy as np
    import pandas as pd

    generator = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for index in range(15):
        data[f"measure_{index}"] = generator.normal(loc=index, scale=3.0, size=rows).round(4)
    data["count_a"] = generator.integers(0, 1000, size=rows)
    data["count_b"] = generator.integers(-50, 50, size=rows)
    data["city"] = generator.choice(["Paris", "Lyon", "Orléans", "Nîmes", "Lille"], size=rows)
    data["segment"] = generator.choice([f"segment-{index}" for index in range(40)], size=rows)
    data["label"] = generator.integers(0, 2, size=rows)
    frame = pd.DataFrame(data)
    assert len(frame.columns) == COLUMNS
    frame.to_csv(path, index=False)


def _peak_rss_bytes() -> int:
    """Return this process's peak resident memory.

    Linux keeps ``ru_maxrss`` across exec, so a child started by a large parent would start at
    the parent's peak. ``VmHWM`` in /proc/self/status belongs to this process alone.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    # macOS reports ru_maxrss in bytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(parser: str, path: Path) -> dict[str, float]:
    """Parse ``path`` with ``parser`` in this process and return seconds and peak bytes."""
    if parser == "portal":
        sys.path.insert(0, str(REPOSITORY_ROOT))
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
        import django

        django.setup()
        from apps.datasets.ingest import csv_table_read
        from apps.datasets.profile import table_describe

        before = _peak_rss_bytes()
        started = time.perf_counter()
        # The two steps of table_parse for a CSV, timed apart to show where the time goes.
        table, _ = csv_table_read(path)
        parsed = time.perf_counter()
        table_describe(table)
        seconds = time.perf_counter() - started
        rows = table.num_rows
        return {
            "seconds": seconds,
            "parse_seconds": parsed - started,
            "peak_bytes": _peak_rss_bytes() - before,
            "rows": rows,
        }
    else:
        import pyarrow.csv

        before = _peak_rss_bytes()
        started = time.perf_counter()
        arrow_table = pyarrow.csv.read_csv(path)
        seconds = time.perf_counter() - started
        rows = arrow_table.num_rows
    return {"seconds": seconds, "peak_bytes": _peak_rss_bytes() - before, "rows": rows}


def _measure_in_subprocess(parser: str, path: Path) -> dict[str, float]:
    completed = subprocess.run(
        [sys.executable, __file__, "--measure", parser, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def _best_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """Return the fastest run's times with the largest peak memory of all runs."""
    fastest = dict(min(runs, key=lambda run: run["seconds"]))
    fastest["peak_bytes"] = max(run["peak_bytes"] for run in runs)
    return fastest


def _load_average() -> str:
    """Return the 1, 5 and 15 minute load averages, which show how busy the CPUs were."""
    try:
        return " ".join(f"{load:.2f}" for load in os.getloadavg())
    except OSError:
        return "not available"


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--rows", type=int, default=1_000_000, help="Rows in the CSV.")
    arguments.add_argument("--repeat", type=int, default=3, help="Runs of each parser.")
    arguments.add_argument("--measure", nargs=2, metavar=("PARSER", "PATH"), help=argparse.SUPPRESS)
    options = arguments.parse_args()
    if options.measure:
        parser, path = options.measure
        print(json.dumps(measure(parser, Path(path))))
        return

    print(f"load average before: {_load_average()}")
    with tempfile.TemporaryDirectory(prefix="ingest-benchmark-") as folder:
        path = Path(folder) / "table.csv"
        started = time.perf_counter()
        csv_generate(path, rows=options.rows)
        size = path.stat().st_size
        print(
            f"generated {options.rows:,} rows x {COLUMNS} columns, {size / 1024**2:.1f} MiB "
            f"in {time.perf_counter() - started:.1f}s"
        )
        portal_runs: list[dict[str, float]] = []
        arrow_runs: list[dict[str, float]] = []
        for _ in range(max(options.repeat, 1)):
            arrow_runs.append(_measure_in_subprocess("arrow", path))
            portal_runs.append(_measure_in_subprocess("portal", path))
        portal = _best_of(portal_runs)
        arrow = _best_of(arrow_runs)

    print(f"load average after:  {_load_average()}")
    time_ratio = portal["seconds"] / arrow["seconds"]
    memory_ratio = portal["peak_bytes"] / size
    arrow_memory_ratio = arrow["peak_bytes"] / size
    print(
        f"table_parse:          {portal['seconds']:7.2f}s  peak {portal['peak_bytes'] / 1024**2:8.1f} MiB"
        f"  (parse and checks {portal['parse_seconds']:.2f}s, "
        f"schema and profile {portal['seconds'] - portal['parse_seconds']:.2f}s)"
    )
    print(
        f"pyarrow.csv.read_csv: {arrow['seconds']:7.2f}s  peak {arrow['peak_bytes'] / 1024**2:8.1f} MiB"
    )
    verdict = "met" if time_ratio <= TIME_RATIO_GOAL else "missed"
    print(
        f"time ratio (table_parse / pyarrow): {time_ratio:.2f}x, goal <= {TIME_RATIO_GOAL}x: {verdict}"
    )
    parse_ratio = portal["parse_seconds"] / arrow["seconds"]
    print(f"parse and checks alone / pyarrow: {parse_ratio:.2f}x")
    verdict = "met" if memory_ratio <= MEMORY_RATIO_GOAL else "missed"
    print(
        f"memory ratio (table_parse peak / file size): {memory_ratio:.2f}x, "
        f"goal <= {MEMORY_RATIO_GOAL}x: {verdict} (pyarrow: {arrow_memory_ratio:.2f}x)"
    )


if __name__ == "__main__":
    main()
