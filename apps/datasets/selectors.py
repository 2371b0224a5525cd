from django.db.models import QuerySet
from django.http import Http404

from apps.datasets.models import DatasetVersion
from apps.projects.models import Project


def dataset_list(*, project: Project) -> QuerySet[DatasetVersion]:
    return DatasetVersion.objects.filter(project=project).select_related("created_by")


def dataset_get(*, project: Project, dataset_id: int) -> DatasetVersion:
    """Return the dataset version ``dataset_id`` of ``project``; Http404 for any other project's."""
    dataset = dataset_list(project=project).filter(pk=dataset_id).first()
    if dataset is None:
        raise Http404("No dataset version with that id in this project.")
    return dataset
