"""gunicorn settings for serving the portal in production: ``gunicorn -c portal/gunicorn.conf.py``.

Predictions are CPU-bound Python, so throughput comes from processes (one per core by
default), and each process runs a few threads so that a request waiting on the database or
the network does not hold a core. gthread workers keep client connections alive between
requests, which saves a TCP handshake per prediction. Every setting can be overridden from
the environment; benchmarks/serving/README.md records what these defaults measured.
"""

import multiprocessing
import os

# scikit-learn's histogram gradient boosting and numpy's BLAS start a thread pool per process
# by default. For single-row predictions the pool costs more than it saves, and several
# worker processes each starting one per core oversubscribe the machine. These must be set
# before numpy is imported, which happens when the application loads below.
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

wsgi_app = "portal.wsgi:application"
bind = os.environ.get("PORTAL_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
# Two threads per process let a connection's next request be read while a prediction runs.
# A warm prediction makes no query, so more threads would only contend for the GIL.
threads = int(os.environ.get("PORTAL_WEB_THREADS", "2"))
keepalive = int(os.environ.get("PORTAL_WEB_KEEPALIVE_SECONDS", "75"))
# Loading the application once in the master process lets the workers share its imports;
# each worker still loads its own models after the fork.
preload_app = True
timeout = int(os.environ.get("PORTAL_WEB_TIMEOUT_SECONDS", "60"))
graceful_timeout = 30
# Restarting a worker after many requests bounds slow memory growth; the jitter keeps the
# workers from restarting together.
max_requests = int(os.environ.get("PORTAL_WEB_MAX_REQUESTS", "100000"))
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("PORTAL_WEB_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("PORTAL_LOG_LEVEL", "info").lower()


def post_worker_init(worker: object) -> None:
    """Load and warm every live model before the worker takes its first request."""
    from django.db import connections

    from apps.deployments.serving import live_models_preload

    try:
        live_models_preload()
    finally:
        # The worker's request threads open their own connections.
        connections.close_all()
