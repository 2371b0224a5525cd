from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.permissions import Action
from apps.core.api import ProjectAPIView
from apps.core.errors import InvalidInput
from apps.core.users import authenticated_user
from apps.deployments.selectors import project_deployments
from apps.deployments.serializers import (
    DeploymentSerializer,
    PredictRequestSerializer,
    PredictResponseSerializer,
)
from apps.deployments.services import deployment_rollback
from apps.deployments.serving import predict


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


class PredictView(ProjectAPIView):
    actions = {"post": Action.PREDICT}

    @extend_schema(request=PredictRequestSerializer, responses=PredictResponseSerializer)
    def post(self, request: Request, slug: str) -> Response:
        # The service validates the rows itself, so its errors can name each row and column.
        if not isinstance(request.data, dict):
            raise InvalidInput(
                'Send a JSON object: {"instances": [{column: value, ...}, ...]}.',
                field="instances",
            )
        return Response(predict(project=self.project, instances=request.data.get("instances")))
