import json
from typing import Any

from django.http import FileResponse, HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.parsers import MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import Action
from apps.core.api import ProjectAPIView
from apps.core.errors import Conflict, InvalidInput, PayloadTooLarge
from apps.core.users import authenticated_user
from apps.deployments.selectors import (
    batch_get,
    project_batches,
    project_deployments,
    project_rollouts,
    rollout_comparison,
    rollout_get,
)
from apps.deployments.serializers import (
    BatchSerializer,
    DeploymentSerializer,
    PredictRequestSerializer,
    PredictResponseSerializer,
    RolloutComparisonSerializer,
    RolloutSerializer,
    RolloutShareSerializer,
    RolloutStartSerializer,
)
from apps.deployments.services import (
    batch_create,
    deployment_rollback,
    rollout_complete,
    rollout_share_set,
    rollout_start,
    rollout_stop,
)
from apps.deployments.serving import predict
from apps.deployments.serving_access import CachedTokenAuthentication, project_for_predict
from apps.iterations.models import Iteration


class DeploymentListView(ProjectAPIView):
    actions = {"get": Action.VIEW}

    @extend_schema(responses=DeploymentSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        deployments = project_deployments(project=self.project)
        return Response(DeploymentSerializer(deployments, many=True).data)


class DeploymentRollbackView(ProjectAPIView):
    actions = {"post": Action.ROLL_BACK}

    @extend_schema(request=None, responses={201: DeploymentSerializer})
    def post(self, request: Request, slug: str) -> Response:
        restored = deployment_rollback(project=self.project, user=authenticated_user(request))
        return Response(DeploymentSerializer(restored).data, status=201)


# The portal's hot path. The view parses the body itself, so NaN in a row reaches validation
# and gets a 422 naming the field, and writes its JSON directly. Authentication and the
# PREDICT check run on every request through apps.deployments.serving_access, which reuses a
# verified result for at most SERVING_ACCESS_CACHE_SECONDS.
class PredictView(ProjectAPIView):
    """Score rows with the project's live model (or its canary)."""

    actions = {"post": Action.PREDICT}
    authentication_classes = [
        CachedTokenAuthentication,
        *APIView.authentication_classes,
    ]
    renderer_classes = [JSONRenderer]

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        # The parent's project lookup is replaced by the cached one, which calls the same
        # scoped helper on a miss, so outsiders still get 404 and other roles 403.
        APIView.initial(self, request, *args, **kwargs)
        self.project = project_for_predict(user=request.user, slug=kwargs["slug"])

    @extend_schema(request=PredictRequestSerializer, responses=PredictResponseSerializer)
    def post(self, request: Request, slug: str) -> HttpResponse:
        _json_content_type_check(request)
        body = _json_body(request)
        if not isinstance(body, dict):
            raise InvalidInput(
                'Send a JSON object: {"instances": [{column: value, ...}, ...]}.',
                field="instances",
            )
        result = predict(project=self.project, instances=body.get("instances"))
        return HttpResponse(
            json.dumps(result, separators=(",", ":")), content_type="application/json"
        )


def _json_content_type_check(request: Request) -> None:
    """Raise 415 unless the body is declared as JSON, as DRF's parsers do on other endpoints.

    The body is parsed by hand here, so DRF's parser selection never runs for this view.
    """
    content_type = request.META.get("CONTENT_TYPE") or ""
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType(
            media_type or "(none)",
            detail=(
                f"The predict endpoint takes 'application/json', not '{media_type or 'no type'}'. "
                "Send the body with the header Content-Type: application/json."
            ),
        )


def _json_body(request: Request) -> Any:
    from django.conf import settings

    limit = settings.PREDICT_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise PayloadTooLarge(
            f"The request body has {length} bytes; the predict endpoint takes at most {limit}. "
            "Split the request or use batch scoring.",
            field="instances",
        )
    raw = request.body
    if len(raw) > limit:
        raise PayloadTooLarge(
            f"The request body is larger than {limit} bytes; split the request or use batch "
            "scoring.",
            field="instances",
        )
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        # The decoder's message quotes the body, so only a fixed message is returned.
        raise InvalidInput("The request body is not valid JSON.", field="instances") from None


class RolloutListView(ProjectAPIView):
    actions = {"get": Action.VIEW, "post": Action.MANAGE_ROLLOUT}

    @extend_schema(responses=RolloutSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        return Response(RolloutSerializer(project_rollouts(project=self.project), many=True).data)

    @extend_schema(request=RolloutStartSerializer, responses={201: RolloutSerializer})
    def post(self, request: Request, slug: str) -> Response:
        data = RolloutStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        iteration = Iteration.objects.filter(
            project=self.project, number=data.validated_data["iteration"]
        ).first()
        if iteration is None:
            raise InvalidInput("No iteration with that number.", field="iteration")
        rollout = rollout_start(
            project=self.project,
            user=authenticated_user(request),
            iteration=iteration,
            mode=data.validated_data["mode"],
            share=data.validated_data.get("share", 0.0),
        )
        return Response(RolloutSerializer(rollout).data, status=201)


class RolloutDetailView(ProjectAPIView):
    actions = {"get": Action.VIEW, "patch": Action.MANAGE_ROLLOUT}

    @extend_schema(responses=RolloutComparisonSerializer)
    def get(self, request: Request, slug: str, rollout_id: int) -> Response:
        rollout = rollout_get(project=self.project, rollout_id=rollout_id)
        body = dict(RolloutSerializer(rollout).data)
        body["comparison"] = rollout_comparison(rollout=rollout)
        return Response(body)

    @extend_schema(request=RolloutShareSerializer, responses=RolloutSerializer)
    def patch(self, request: Request, slug: str, rollout_id: int) -> Response:
        rollout = rollout_get(project=self.project, rollout_id=rollout_id)
        share = request.data.get("share") if isinstance(request.data, dict) else None
        updated = rollout_share_set(rollout=rollout, user=authenticated_user(request), share=share)
        return Response(RolloutSerializer(updated).data)


class RolloutStopView(ProjectAPIView):
    actions = {"post": Action.MANAGE_ROLLOUT}

    @extend_schema(request=None, responses=RolloutSerializer)
    def post(self, request: Request, slug: str, rollout_id: int) -> Response:
        rollout = rollout_get(project=self.project, rollout_id=rollout_id)
        return Response(
            RolloutSerializer(rollout_stop(rollout=rollout, user=authenticated_user(request))).data
        )


class RolloutCompleteView(ProjectAPIView):
    actions = {"post": Action.MANAGE_ROLLOUT}

    @extend_schema(request=None, responses=RolloutSerializer)
    def post(self, request: Request, slug: str, rollout_id: int) -> Response:
        rollout = rollout_get(project=self.project, rollout_id=rollout_id)
        completed = rollout_complete(rollout=rollout, user=authenticated_user(request))
        return Response(RolloutSerializer(completed).data)


class BatchUploadSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="A CSV with the model's feature columns.")


class BatchListView(ProjectAPIView):
    actions = {"get": Action.VIEW, "post": Action.SCORE_BATCH}
    parser_classes = [MultiPartParser]

    @extend_schema(responses=BatchSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        return Response(BatchSerializer(project_batches(project=self.project), many=True).data)

    @extend_schema(request=BatchUploadSerializer, responses={202: BatchSerializer})
    def post(self, request: Request, slug: str) -> Response:
        batch = batch_create(
            project=self.project,
            user=authenticated_user(request),
            uploaded_file=request.FILES.get("file"),
        )
        return Response(BatchSerializer(batch).data, status=202)


class BatchDetailView(ProjectAPIView):
    actions = {"get": Action.VIEW}

    @extend_schema(responses=BatchSerializer)
    def get(self, request: Request, slug: str, batch_id: int) -> Response:
        return Response(BatchSerializer(batch_get(project=self.project, batch_id=batch_id)).data)


class BatchDownloadView(ProjectAPIView):
    actions = {"get": Action.SCORE_BATCH}

    @extend_schema(responses={(200, "text/csv"): bytes})
    def get(self, request: Request, slug: str, batch_id: int) -> FileResponse:
        batch = batch_get(project=self.project, batch_id=batch_id)
        if not batch.output_file:
            raise Conflict(f"Batch {batch.pk} is {batch.status}; it has no result to download.")
        return FileResponse(
            batch.output_file.open("rb"),
            as_attachment=True,
            filename=f"{slug}-batch-{batch.pk}-scored.csv",
            content_type="text/csv",
        )
