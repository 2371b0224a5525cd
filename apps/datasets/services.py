import logging
from collections.abc import Mapping

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Max

from apps.audit.services import audit_record
from apps.core.errors import InvalidInput
from apps.datasets.ingest import (
    format_detect,
    infinite_values_check,
    table_parse,
    target_check,
    upload_spool,
)
from apps.datasets.models import DatasetVersion
from apps.iterations.services import baseline_iterations_start
from apps.projects.models import Project

logger = logging.getLogger(__name__)

NAME_MAX_LENGTH = DatasetVersion._meta.get_field("name").max_length or 200


def dataset_create(
    *,
    project: Project,
    user: User,
    uploaded_file: UploadedFile[bytes],
    name: str,
    target_column: str,
    dialect_choice: Mapping[str, str] | None = None,
) -> DatasetVersion:
    """Store an uploaded CSV or Parquet file as the next version of dataset ``name``.

    Every check runs before anything is written, and a failure while writing removes the
    stored file again, so a rejected upload leaves neither a row nor a file. Uploading the
    same bytes twice creates a new version that shares the stored file and its sha256, and
    the returned object names the project's earliest version with that sha256 in
    ``duplicate_of`` (None for new content). The returned object carries the upload's
    non-fatal findings in ``warnings``. ``dialect_choice`` replaces detected CSV settings,
    as ``table_parse`` describes.
    """
    name = (name or "").strip()
    target_column = (target_column or "").strip()
    if not name:
        raise InvalidInput("Give the dataset a name.", field="name")
    if len(name) > NAME_MAX_LENGTH:
        raise InvalidInput(f"The name is longer than {NAME_MAX_LENGTH} characters.", field="name")
    if not target_column:
        raise InvalidInput("Name the target column.", field="target")
    if uploaded_file is None:
        raise InvalidInput("Attach a CSV or Parquet file.", field="file")

    filename = uploaded_file.name or "upload.csv"
    spooled = upload_spool(uploaded_file, max_bytes=settings.DATASET_MAX_UPLOAD_BYTES)
    try:
        file_format = format_detect(filename=filename, head=spooled.head)
        table = table_parse(spooled.path, file_format=file_format, dialect_choice=dialect_choice)
        warnings = target_check(table, target=target_column, task_type=project.task_type)
        infinite_values_check(table)
        storage_name = f"datasets/{project.slug}/{spooled.sha256}.{file_format}"
        stored_here = False
        try:
            with transaction.atomic():
                # The project lock serializes uploads to one project, which makes the version
                # numbers gap-free and keeps two uploads of the same bytes from racing on the
                # shared file.
                Project.objects.select_for_update().only("pk").get(pk=project.pk)
                if not default_storage.exists(storage_name):
                    with spooled.path.open("rb") as source:
                        saved_name = default_storage.save(storage_name, File(source))
                    stored_here = True
                    storage_name = saved_name
                duplicate_of = (
                    DatasetVersion.objects.filter(project=project, sha256=spooled.sha256)
                    .order_by("created_at", "id")
                    .first()
                )
                if duplicate_of is not None:
                    warnings.append(
                        f"The same content (sha256 {spooled.sha256[:12]}…) was uploaded "
                        f"before as {duplicate_of.name} v{duplicate_of.version}. This version "
                        "shares its stored file."
                    )
                latest = DatasetVersion.objects.filter(project=project, name=name).aggregate(
                    latest=Max("version")
                )["latest"]
                dataset = DatasetVersion(
                    project=project,
                    name=name,
                    version=(latest or 0) + 1,
                    original_filename=filename[:255],
                    format=file_format,
                    sha256=spooled.sha256,
                    size_bytes=spooled.size_bytes,
                    row_count=table.row_count,
                    column_count=len(table.schema),
                    schema=table.schema,
                    detected=table.detected,
                    profile=table.profile,
                    target_column=target_column,
                    created_by=user,
                )
                dataset.file.name = storage_name
                dataset.save()
                audit_record(
                    actor=user,
                    action="dataset.uploaded",
                    target=dataset,
                    project=project,
                    after={
                        "name": dataset.name,
                        "version": dataset.version,
                        "sha256": dataset.sha256,
                        "rows": dataset.row_count,
                        "columns": dataset.column_count,
                        "target": target_column,
                        "format": file_format,
                        "detected": table.detected,
                        "warnings": warnings,
                        "duplicate_of": duplicate_of.pk if duplicate_of else None,
                    },
                )
                baseline_iterations_start(project=project, user=user, dataset=dataset)
        except BaseException:
            if stored_here:
                default_storage.delete(storage_name)
            raise
    finally:
        spooled.path.unlink(missing_ok=True)

    # Warnings are shown once, after the upload, so they live on the returned object only.
    setattr(dataset, "warnings", warnings)  # noqa: B010
    setattr(dataset, "duplicate_of", duplicate_of)  # noqa: B010
    logger.info(
        "dataset %s v%s uploaded to project %s: %s rows, sha256 %s",
        dataset.name,
        dataset.version,
        project.slug,
        dataset.row_count,
        dataset.sha256,
    )
    return dataset
