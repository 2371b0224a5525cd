from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action
from apps.core.api import ProjectAPIView
from apps.core.errors import PayloadTooLarge
from apps.datasets.selectors import dataset_get, dataset_list
from apps.datasets.serializers import DatasetUploadSerializer, DatasetVersionSerializer
from apps.datasets.services import dataset_create

# Room for the multipart boundaries and the other form fields around the file itself.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class DatasetListApi(ProjectAPIView):
    actions = {"get": Action.VIEW, "post": Action.UPLOAD_DATASET}
    parser_classes = [MultiPartParser, FormParser]

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
            "response gives the content's sha256, the row count and the inferred schema."
        ),
    )
    def post(self, request: Request, slug: str) -> Response:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        limit = settings.DATASET_MAX_UPLOAD_BYTES
        if declared > limit + MULTIPART_OVERHEAD_BYTES:
            raise PayloadTooLarge(
                f"The upload is larger than the {limit / 1024 / 1024:.0f} MiB limit.",
                field="file",
            )
        form = DatasetUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        dataset = dataset_create(
            project=self.project,
            user=request.user,  # type: ignore[arg-type]
            uploaded_file=form.validated_data["file"],
            name=form.validated_data["name"],
            target_column=form.validated_data["target"],
        )
        return Response(DatasetVersionSerializer(dataset).data, status=status.HTTP_201_CREATED)


class DatasetDetailApi(ProjectAPIView):
    actions = {"get": Action.VIEW}

    @extend_schema(responses=DatasetVersionSerializer, summary="Get a dataset version")
    def get(self, request: Request, slug: str, pk: int) -> Response:
        dataset = dataset_get(project=self.project, dataset_id=pk)
        return Response(DatasetVersionSerializer(dataset).data)
