import logging

from celery import shared_task

from apps.deployments.services import deployment_run, deployments_reap

logger = logging.getLogger(__name__)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=600,
    time_limit=660,
)
def deploy_deployment(deployment_id: int) -> None:
    """Roll out one deployment. Safe to deliver twice: only a pending deployment is claimed."""
    logger.info("deploy task for deployment %s started", deployment_id)
    deployment_run(deployment_id=deployment_id)


@shared_task(acks_late=True, time_limit=120)
def reap_stale_deployments() -> None:
    """Fail deployments whose deploy task died. Run periodically."""
    reaped = deployments_reap()
    if reaped:
        logger.warning("reaper failed %s stale deployments: %s", len(reaped), reaped)
