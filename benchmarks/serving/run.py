"""Single-row prediction latency and throughput: the portal against ``mlflow models serve``.

Trains and deploys the breast cancer histogram gradient boosting pipeline in a temporary
portal (``setup_portal.py``), then, on loopback, measures:

- the portal's predict endpoint under ``portal/gunicorn.conf.py``;
- ``mlflow models serve --env-manager local`` of the same registry version;
- raw in-process ``predict`` of the loaded pipeline (the floor).

Each server is measured with 1 and with 8 concurrent keep-alive connections, and with one
100-row request against 100 rows predicted in-process. Both servers run the same number of
worker processes (``--workers``, default one per CPU core). Run it with
``.venv/bin/python benchmarks/serving/run.py`` (``--requests N`` per measurement).
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
BIN = Path(PYTHON).parent
START_TIMEOUT = 180.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Connection:
    """A minimal HTTP/1.1 keep-alive client, so the client's own cost stays small."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def post(self, request: bytes) -> tuple[int, bytes]:
        self.sock.sendall(request)
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            rest += chunk
        self.buffer = rest[length:]
        return status, rest[:length]

    def _read(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


def _request(path: str, body: dict[str, Any], headers: dict[str, str]) -> bytes:
    payload = json.dumps(body).encode()
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def _summary(latencies: list[float], elapsed: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "throughput": len(ordered) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000,
    }


def _load(port: int, request: bytes, *, connections: int, requests: int) -> dict[str, float]:
    per_connection = max(1, requests // connections)
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors: list[str] = []

    def drive(index: int) -> None:
        connection = Connection(port)
        try:
            for _ in range(20):
                connection.post(request)
            for _ in range(per_connection):
                started = time.perf_counter()
                status, body = connection.post(request)
                latencies[index].append(time.perf_counter() - started)
                if status != 200:
                    errors.append(f"{status}: {body[:300]!r}")
                    return
        finally:
            connection.close()

    threads = [threading.Thread(target=drive, args=(i,)) for i in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"requests failed: {errors[0]}")
    return _summary([value for chunk in latencies for value in chunk], elapsed)


def _wait_ready(port: int, process: subprocess.Popen[bytes], probe: Callable[[], bool]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        try:
            if probe():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server on port {port} not ready within {START_TIMEOUT:.0f} s")


def _floor(
    env: dict[str, str], model_uri: str, rows: list[dict[str, Any]], n: int
) -> dict[str, Any]:
    """Time in-process predict in a fresh interpreter with the same thread settings."""
    code = f"""
import json, statistics, time, mlflow.sklearn, pandas as pd
model = mlflow.sklearn.load_model({model_uri!r})
rows = json.loads({json.dumps(json.dumps(rows))})
one = pd.DataFrame.from_records(rows[:1])
hundred = pd.DataFrame.from_records(rows)
def timing(frame, n):
    for _ in range(20):
        model.predict(frame)
    values = []
    for _ in range(n):
        t = time.perf_counter(); model.predict(frame); values.append(time.perf_counter() - t)
    values.sort()
    return values
single = timing(one, {n})
batch = timing(hundred, max(50, {n} // 10))
print(json.dumps({{"p50_ms": statistics.median(single) * 1000,
                  "p99_ms": single[int(0.99 * len(single))] * 1000,
                  "throughput": 1 / statistics.mean(single),
                  "rows100_p50_ms": statistics.median(batch) * 1000}}))
"""
    output = subprocess.run(
        [PYTHON, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes of both servers (default: one per CPU core)",
    )
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} CPU cores, load average {_load_average()}, "
        f"{args.workers} worker processes per server",
        flush=True,
    )

    folder = Path(tempfile.mkdtemp(prefix="portal-serving-bench-"))
    env = {
        **os.environ,
        # mlflow models serve starts uvicorn by name, so the environment's bin comes first.
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PORTAL_VAR_DIR": str(folder),
        "DATABASE_URL": f"sqlite:///{folder / 'portal.sqlite3'}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.sqlite3'}",
        "MLFLOW_ARTIFACT_ROOT": (folder / "mlartifacts").as_uri(),
        "PORTAL_LOG_LEVEL": "WARNING",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    env["WEB_CONCURRENCY"] = str(args.workers)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        print("training and deploying the model ...", flush=True)
        setup = subprocess.run(
            [PYTHON, str(Path(__file__).with_name("setup_portal.py"))],
            env=env,
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        info = json.loads(setup.stdout.strip().splitlines()[-1])
        rows = info["rows"]

        portal_port, mlflow_port = _free_port(), _free_port()
        # INFO keeps the line that names each model's scoring path; the access log stays off.
        portal_env = {**env, "PORTAL_BIND": f"127.0.0.1:{portal_port}", "PORTAL_LOG_LEVEL": "INFO"}
        processes.append(
            subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "portal/gunicorn.conf.py"],
                env=portal_env,
                cwd=REPO_ROOT,
                stdout=subprocess.DEVNULL,
                stderr=open(folder / "gunicorn.log", "wb"),  # noqa: SIM115
            )
        )
        processes.append(
            subprocess.Popen(
                [
                    str(BIN / "mlflow"),
                    "models",
                    "serve",
                    "-m",
                    info["model_uri"],
                    "--env-manager",
                    "local",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(mlflow_port),
                    "-w",
                    str(args.workers),
                ],
                env=env,
                cwd=folder,
                stdout=subprocess.DEVNULL,
                stderr=open(folder / "mlflow.log", "wb"),  # noqa: SIM115
            )
        )
        portal_path = f"/api/v1/projects/{info['slug']}/predict/"
        auth = {"Authorization": f"Token {info['token']}"}
        portal_one = _request(portal_path, {"instances": rows[:1]}, auth)
        portal_hundred = _request(portal_path, {"instances": rows}, auth)
        split = {
            "columns": info["columns"],
            "data": [[row[c] for c in info["columns"]] for row in rows],
        }
        mlflow_one = _request(
            "/invocations", {"dataframe_split": {**split, "data": split["data"][:1]}}, {}
        )

        def probe(port: int, request: bytes) -> Callable[[], bool]:
            def check() -> bool:
                connection = Connection(port)
                try:
                    return connection.post(request)[0] == 200
                finally:
                    connection.close()

            return check

        for port, process, request, log in (
            (portal_port, processes[0], portal_one, "gunicorn.log"),
            (mlflow_port, processes[1], mlflow_one, "mlflow.log"),
        ):
            try:
                _wait_ready(port, process, probe(port, request))
            except RuntimeError:
                print((folder / log).read_text(errors="replace")[-3000:], file=sys.stderr)
                raise
        print("servers ready; measuring ...", flush=True)

        results: dict[str, dict[str, Any]] = {}
        floor = _floor(env, info["model_uri"], rows, args.requests)
        results["floor"] = {"c1": floor}
        for name, port, request in (
            ("portal", portal_port, portal_one),
            ("mlflow", mlflow_port, mlflow_one),
        ):
            results[name] = {
                "c1": _load(port, request, connections=1, requests=args.requests),
                "c8": _load(port, request, connections=8, requests=args.requests),
            }
        results["portal"]["rows100"] = _load(
            portal_port, portal_hundred, connections=1, requests=max(50, args.requests // 10)
        )
        _report(results)
        print(f"\nload average after the run: {_load_average()}")
        _compiled_report(folder / "gunicorn.log")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(folder, ignore_errors=True)


def _load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def _compiled_report(log: Path) -> None:
    # Each serving process logs which scoring path every model it loads uses.
    paths = [
        line.rsplit(" through the ", 1)[-1]
        for line in log.read_text(errors="replace").splitlines()
        if "scoring path" in line
    ]
    print(f"portal model loads by scoring path: {sorted(paths) or 'none logged'}")


def _report(results: dict[str, dict[str, Any]]) -> None:
    print(f"{'target':<8} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for name in ("portal", "mlflow"):
        for key, label in (("c1", "1"), ("c8", "8")):
            row = results[name][key]
            print(
                f"{name:<8} {label:>5} {row['throughput']:>9.0f} "
                f"{row['p50_ms']:>8.3f} {row['p99_ms']:>8.3f}"
            )
    floor = results["floor"]["c1"]
    print(
        f"{'floor':<8} {'-':>5} {floor['throughput']:>9.0f} "
        f"{floor['p50_ms']:>8.3f} {floor['p99_ms']:>8.3f}"
    )
    portal, mlflow = results["portal"], results["mlflow"]
    ratio_1 = portal["c1"]["throughput"] / mlflow["c1"]["throughput"]
    ratio_8 = portal["c8"]["throughput"] / mlflow["c8"]["throughput"]
    overhead = portal["c1"]["p50_ms"] - floor["p50_ms"]
    rows_ratio = portal["rows100"]["p50_ms"] / floor["rows100_p50_ms"]
    print()
    print(f"portal / mlflow throughput, 1 connection:  {ratio_1:.2f}x (goal >= 4x)")
    print(f"portal / mlflow throughput, 8 connections: {ratio_8:.2f}x")
    print(f"portal p50 - floor p50: {overhead:.3f} ms (goal <= 1 ms)")
    print(
        f"100-row request p50 {portal['rows100']['p50_ms']:.3f} ms vs in-process "
        f"{floor['rows100_p50_ms']:.3f} ms: {rows_ratio:.2f}x (goal <= 2x)"
    )


if __name__ == "__main__":
    main()
