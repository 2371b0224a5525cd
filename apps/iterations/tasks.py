import logging

from celery import shared_task

from apps.iterations.reaper import iterations_reap
from apps.iterations.services import TRAINING_SOFT_TIME_LIMIT_S, iteration_run

logger = logging.getLogger(__name__)

# The soft limit raises inside the task, so the iteration ends failed with a reason. The hard
# limit, a minute later, kills a task that ignored the soft one, and the reaper then fails
# the iteration once its heartbeat goes stale.
TRAINING_TIME_LIMIT_S = TRAINING_SOFT_TIME_LIMIT_S + 60


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=TRAINING_SOFT_TIME_LIMIT_S,
    time_limit=TRAINING_TIME_LIMIT_S,
)
def train_iteration(iteration_id: int) -> None:
    """Train one iteration. Safe to deliver twice: only the first delivery claims the row."""
    logger.info("training task received for iteration id %s", iteration_id)
    iteration_run(iteration_id=iteration_id)


@shared_task(acks_late=True, time_limit=120)
def reap_stale_iterations() -> None:
    """Fail running iterations whose worker stopped sending heartbeats. Run periodically."""
    reaped = iterations_reap()
    if reaped:
        logger.warning("reaper failed %s stale iterations: %s", len(reaped), reaped)
