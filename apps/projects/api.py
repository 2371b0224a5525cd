from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import Action
from apps.core.api import ProjectAPIView
from apps.core.errors import InvalidInput
from apps.core.users import authenticated_user
from apps.projects.discussion import comment_post
from apps.projects.models import SuccessMetric
from apps.projects.observations import metric_observation_post
from apps.projects.selectors import (
    comment_list,
    metric_observation_list,
    project_list_for_user,
    project_with_details,
)
from apps.projects.serializers import (
    CommentCreateSerializer,
    CommentSerializer,
    MetricObservationCreateSerializer,
    MetricObservationSerializer,
    ProjectPatchSerializer,
    ProjectSerializer,
    ProjectWriteSerializer,
    TargetVersionSerializer,
    plan_fields,
)
from apps.projects.services import MemberInput, MetricInput, project_create, project_update


def _metric_inputs(items: list[dict[str, Any]]) -> list[MetricInput]:
    return [MetricInput(**item) for item in items]


class ProjectListCreateView(APIView):
    @extend_schema(responses=ProjectSerializer(many=True))
    def get(self, request: Request) -> Response:
        projects = project_list_for_user(user=request.user)
        return Response(ProjectSerializer(projects, many=True).data)

    @extend_schema(request=ProjectWriteSerializer, responses={201: ProjectSerializer})
    def post(self, request: Request) -> Response:
        serializer = ProjectWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = project_create(
            user=authenticated_user(request),
            task_type=data["task_type"],
            metrics=_metric_inputs(data["metrics"]),
            members=[MemberInput(**member) for member in data.get("members", [])],
            **plan_fields(data),
        )
        return Response(
            ProjectSerializer(project_with_details(project=project)).data,
            status=status.HTTP_201_CREATED,
        )


class ProjectDetailView(ProjectAPIView):
    actions = {"get": Action.VIEW, "patch": Action.EDIT_PROJECT}

    @extend_schema(responses=ProjectSerializer)
    def get(self, request: Request, slug: str) -> Response:
        return Response(ProjectSerializer(project_with_details(project=self.project)).data)

    @extend_schema(request=ProjectPatchSerializer, responses=ProjectSerializer)
    def patch(self, request: Request, slug: str) -> Response:
        serializer = ProjectPatchSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        metrics = _metric_inputs(data["metrics"]) if "metrics" in data else None
        project = project_update(
            project=self.project,
            user=authenticated_user(request),
            metrics=metrics,
            **plan_fields(data),
        )
        return Response(ProjectSerializer(project_with_details(project=project)).data)


class CommentListCreateView(ProjectAPIView):
    actions = {"get": Action.VIEW, "post": Action.COMMENT}

    @extend_schema(
        parameters=[OpenApiParameter("iteration", int, description="Only comments on it.")],
        responses=CommentSerializer(many=True),
    )
    def get(self, request: Request, slug: str) -> Response:
        iteration = request.query_params.get("iteration")
        if iteration is not None and not iteration.isdigit():
            raise InvalidInput("Must be an iteration number.", field="iteration")
        comments = comment_list(
            project=self.project, iteration_number=int(iteration) if iteration else None
        )
        return Response(CommentSerializer(comments, many=True).data)

    @extend_schema(request=CommentCreateSerializer, responses={201: CommentSerializer})
    def post(self, request: Request, slug: str) -> Response:
        serializer = CommentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        number = serializer.validated_data.get("iteration")
        iteration_id = None
        if number is not None:
            iteration_id = (
                self.project.iterations.filter(number=number).values_list("id", flat=True).first()
            )
            if iteration_id is None:
                raise InvalidInput(f"No iteration {number} in this project.", field="iteration")
        comment = comment_post(
            project=self.project,
            user=authenticated_user(request),
            body=serializer.validated_data["body"],
            iteration_id=iteration_id,
        )
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)


class TargetVersionListView(ProjectAPIView):
    """Every version of the project's targets, newest first, with who agreed to each."""

    actions = {"get": Action.VIEW}

    @extend_schema(responses=TargetVersionSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        versions = self.project.target_versions.select_related("created_by", "agreed_by")
        return Response(TargetVersionSerializer(versions.order_by("-number"), many=True).data)


class MetricObservationListCreateView(ProjectAPIView):
    """Measured values of the business and operational metrics, newest observation date first."""

    actions = {"get": Action.VIEW, "post": Action.POST_OBSERVATION}

    def _metrics_by_name(self) -> dict[str, SuccessMetric]:
        return {metric.name: metric for metric in self.project.metrics.all()}

    @extend_schema(
        parameters=[OpenApiParameter("metric", str, description="Only values of this metric.")],
        responses=MetricObservationSerializer(many=True),
    )
    def get(self, request: Request, slug: str) -> Response:
        observations = metric_observation_list(
            project=self.project, metric_name=request.query_params.get("metric") or None
        )
        serializer = MetricObservationSerializer(
            observations, many=True, context={"metrics": self._metrics_by_name()}
        )
        return Response(serializer.data)

    @extend_schema(
        request=MetricObservationCreateSerializer, responses={201: MetricObservationSerializer}
    )
    def post(self, request: Request, slug: str) -> Response:
        serializer = MetricObservationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        observation = metric_observation_post(
            project=self.project,
            user=authenticated_user(request),
            metric_name=data["metric"],
            value=data["value"],
            observed_on=data["observed_on"],
            note=data["note"],
        )
        output = MetricObservationSerializer(
            observation, context={"metrics": self._metrics_by_name()}
        )
        return Response(output.data, status=status.HTTP_201_CREATED)
