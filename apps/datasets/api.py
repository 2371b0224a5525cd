from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action
from apps.core.api import ProjectAPIView
from apps.datasets.ingest import upload_length_check
from apps.datasets.selectors import dataset_get, dataset_list
from apps.datasets.serializers import DatasetUploadSerializer, DatasetVersionSerializer
from apps.datasets.services import dataset_create


class DatasetListApi(ProjectAPIView):
    actions = {"get": Action.VIEW, "post": Action.UPLOAD_DATASET}
    parser_classes = [MultiPartParser, FormParser]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Before authentication, whose CSRF check may parse the multipart body.
        if request.method == "POST":
            upload_length_check(request.META, max_bytes=settings.DATASET_MAX_UPLOAD_BYTES)
        super().initial(request, *args, **kwargs)

    @extend_schema(responses=DatasetVersionSerializer(many=True), summary="List dataset versions")
    def get(self, request: Request, slug: str) -> Response:
        datasets = dataset_list(project=self.project)
        return Response(DatasetVersionSerializer(datasets, many=True).data)

    @extend_schema(
        request={"multipart/form-data": DatasetUploadSerializer},
        responses={201: DatasetVersionSerializer},
        summary="Upload a dataset version",
        description=(
            "Upload a CSV or Parquet file as the next version of the dataset `name`. The "
            "response gives the content's sha256, the row count and the inferred schema. "
            "A request whose Content-Length exceeds the upload limit is answered 413 before "
            "its body is read. Content already uploaded to this project (the same sha256) "
            "is stored again as a new version that shares the stored file, and the response "
            "names the earlier version in `duplicate_of` and in `warnings`. Optional "
            "`encoding`, `delimiter` and `quotechar` replace what detection found in a CSV."
        ),
    )
    def post(self, request: Request, slug: str) -> Response:
        form = DatasetUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        dataset = dataset_create(
            project=self.project,
            user=request.user,  # type: ignore[arg-type]
            uploaded_file=form.validated_data["file"],
            name=form.validated_data["name"],
            target_column=form.validated_data["target"],
            dialect_choice={
                key: form.validated_data[key]
                for key in ("encoding", "delimiter", "quotechar")
                if key in form.validated_data
            },
        )
        return Response(DatasetVersionSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailApi(ProjectAPIView):
    actions = {"get": Action.VIEW}

    @extend_schema(responses=DatasetVersionSerializer, summary="Get a dataset version")
    def get(self, request: Request, slug: str, pk: int) -> Response:
        dataset = dataset_get(project=self.project, dataset_id=pk)
        return Response(DatasetVersionSerializer(dataset).data)
