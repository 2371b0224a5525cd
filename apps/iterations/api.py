import json
from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action
from apps.core.api import ProjectAPIView
from apps.core.errors import InvalidInput
from apps.core.parsers import JSONBodyParser
from apps.iterations.linking import iteration_link
from apps.iterations.models import Iteration
from apps.iterations.selectors import (
    iteration_get,
    iteration_verdicts,
    project_iterations_with_verdicts,
    project_metrics,
)
from apps.iterations.serializers import (
    IterationLinkSerializer,
    IterationSerializer,
    IterationStartSerializer,
)
from apps.iterations.services import iteration_cancel, iteration_retry, iteration_start
from apps.iterations.specs import (
    iteration_reproduce,
    iteration_spec,
    iteration_start_from_spec,
    spec_check_trained,
    spec_filename,
    spec_from_upload,
    spec_yaml_dump,
)
from apps.projects.models import Project


def _iteration_data(project: Project, iteration: Iteration) -> dict[str, Any]:
    verdicts = iteration_verdicts(iteration=iteration, metrics=project_metrics(project=project))
    return IterationSerializer(iteration, context={"verdicts": {iteration.pk: verdicts}}).data


class IterationListApi(ProjectAPIView):
    actions = {"get": Action.VIEW, "post": Action.START_ITERATION}

    @extend_schema(responses=IterationSerializer(many=True), summary="List iterations")
    def get(self, request: Request, slug: str) -> Response:
        rows = project_iterations_with_verdicts(project=self.project)
        verdicts = {row.iteration.pk: row.verdicts for row in rows}
        data = IterationSerializer(
            [row.iteration for row in rows], many=True, context={"verdicts": verdicts}
        ).data
        return Response(data)

    @extend_schema(
        request=IterationStartSerializer,
        responses={202: IterationSerializer},
        summary="Start an iteration",
        description="Queue training of a recipe on a dataset version. Poll the iteration "
        "until its status is succeeded, failed or cancelled.",
    )
    def post(self, request: Request, slug: str) -> Response:
        form = IterationStartSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        iteration = iteration_start(
            project=self.project,
            user=request.user,  # type: ignore[arg-type]
            dataset_id=form.validated_data["dataset"],
            recipe=form.validated_data["recipe"],
            params=form.validated_data["params"],
            seed=form.validated_data["seed"],
            test_size=form.validated_data["test_size"],
        )
        return Response(_iteration_data(self.project, iteration), status=status.HTTP_202_ACCEPTED)


class IterationDetailApi(ProjectAPIView):
    actions = {"get": Action.VIEW}

    @extend_schema(responses=IterationSerializer, summary="Get an iteration with its verdicts")
    def get(self, request: Request, slug: str, number: int) -> Response:
        iteration = iteration_get(project=self.project, number=number)
        return Response(_iteration_data(self.project, iteration))


class IterationCancelApi(ProjectAPIView):
    actions = {"post": Action.START_ITERATION}

    @extend_schema(request=None, responses=IterationSerializer, summary="Cancel an iteration")
    def post(self, request: Request, slug: str, number: int) -> Response:
        iteration = iteration_get(project=self.project, number=number)
        cancelled = iteration_cancel(iteration=iteration, user=request.user)  # type: ignore[arg-type]
        return Response(_iteration_data(self.project, cancelled))


class IterationSpecApi(ProjectAPIView):
    actions = {"get": Action.VIEW}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "file_format",
                str,
                enum=["json", "yaml"],
                description="json (the default) or yaml.",
            )
        ],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "application/yaml"): OpenApiTypes.STR,
        },
        summary="Download an iteration's training spec",
        description="A JSON or YAML file that POST .../iterations/from-spec/ accepts.",
    )
    def get(self, request: Request, slug: str, number: int) -> HttpResponse:
        file_format = request.query_params.get("file_format", "json")
        if file_format not in ("json", "yaml"):
            raise InvalidInput("Choose file_format json or yaml.", field="file_format")
        iteration = iteration_get(project=self.project, number=number)
        spec_check_trained(iteration)
        spec = iteration_spec(iteration)
        # A plain response, so the browsable API's HTML never lands in the downloaded file.
        if file_format == "yaml":
            response = HttpResponse(spec_yaml_dump(spec), content_type="application/yaml")
        else:
            response = HttpResponse(
                json.dumps(spec, indent=2) + "\n", content_type="application/json"
            )
        filename = spec_filename(iteration, file_format=file_format)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class IterationFromSpecApi(ProjectAPIView):
    actions = {"post": Action.START_ITERATION}
    parser_classes = [JSONBodyParser, MultiPartParser]

    @extend_schema(
        request={
            "application/json": OpenApiTypes.OBJECT,
            "multipart/form-data": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
            },
        },
        responses={202: IterationSerializer},
        summary="Start an iteration from a training spec",
        description="Send the spec as the JSON body, or upload it as the multipart field "
        "file. Errors name the spec field, for example spec.dataset_sha256.",
    )
    def post(self, request: Request, slug: str) -> Response:
        spec: Any
        if request.content_type.startswith("multipart/"):
            spec = spec_from_upload(request.FILES.get("file"))
        else:
            spec = request.data
        iteration = iteration_start_from_spec(
            project=self.project,
            user=request.user,  # type: ignore[arg-type]
            spec=spec,
        )
        return Response(_iteration_data(self.project, iteration), status=status.HTTP_202_ACCEPTED)


class IterationReproduceApi(ProjectAPIView):
    actions = {"post": Action.START_ITERATION}

    @extend_schema(
        request=None,
        responses={202: IterationSerializer},
        summary="Rerun an iteration's spec to check that it reproduces",
        description="Returns the queued rerun. When it finishes, the original's "
        "reproduction field says whether the metrics came out the same.",
    )
    def post(self, request: Request, slug: str, number: int) -> Response:
        iteration = iteration_get(project=self.project, number=number)
        rerun = iteration_reproduce(iteration=iteration, user=request.user)  # type: ignore[arg-type]
        return Response(_iteration_data(self.project, rerun), status=status.HTTP_202_ACCEPTED)


class IterationRetryApi(ProjectAPIView):
    actions = {"post": Action.START_ITERATION}

    @extend_schema(
        request=None,
        responses={202: IterationSerializer},
        summary="Retry a failed or cancelled iteration",
        description="Queues a new iteration with the same dataset version, recipe, parameters, "
        "seed and test size, and returns it. Answers 409 for a queued, running or succeeded "
        "iteration.",
    )
    def post(self, request: Request, slug: str, number: int) -> Response:
        iteration = iteration_get(project=self.project, number=number)
        retry = iteration_retry(iteration=iteration, user=request.user)  # type: ignore[arg-type]
        return Response(_iteration_data(self.project, retry), status=status.HTTP_202_ACCEPTED)


class IterationLinkApi(ProjectAPIView):
    actions = {"post": Action.START_ITERATION}

    @extend_schema(
        request=IterationLinkSerializer,
        responses={201: IterationSerializer},
        summary="Link an MLflow run as an iteration",
        description="Bring your own training: the run, logged to the portal's tracking server "
        "with a scikit-learn or pyfunc model, is evaluated on the dataset version's holdout "
        "split and recorded as a succeeded iteration judged against the targets. Answers 400 "
        "for an unknown run or bad input, 409 for a run already linked, and 422 when the run "
        "has no model or the model's feature columns are missing from the dataset.",
    )
    def post(self, request: Request, slug: str) -> Response:
        form = IterationLinkSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        iteration = iteration_link(
            project=self.project,
            user=request.user,  # type: ignore[arg-type]
            mlflow_run_id=form.validated_data["mlflow_run_id"],
            dataset_id=form.validated_data["dataset"],
            target=form.validated_data.get("target"),
            seed=form.validated_data["seed"],
            test_size=form.validated_data["test_size"],
            feature_columns=form.validated_data.get("feature_columns"),
        )
        return Response(_iteration_data(self.project, iteration), status=status.HTTP_201_CREATED)
