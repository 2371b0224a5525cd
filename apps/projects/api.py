from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import Action
from apps.core.api import ProjectAPIView
from apps.core.users import authenticated_user
from apps.projects.selectors import project_list_for_user, project_with_details
from apps.projects.serializers import (
    ProjectPatchSerializer,
    ProjectSerializer,
    ProjectWriteSerializer,
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
