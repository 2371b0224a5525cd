from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from apps.accounts.models import Membership
from apps.accounts.permissions import Action
from apps.accounts.serializers import (
    MembershipCreateSerializer,
    MembershipSerializer,
    TokenRequestSerializer,
    TokenResponseSerializer,
)
from apps.accounts.services import membership_add, membership_remove, token_create, user_by_username
from apps.accounts.signin import SignInFailureThrottle, client_address, signin_failure_record
from apps.core.api import ProjectAPIView
from apps.core.errors import InvalidInput
from apps.core.users import authenticated_user


class TokenThrottle(AnonRateThrottle):
    scope = "token"
    rate = "30/min"


class TokenObtainView(APIView):
    """Exchange a username and password for an API token.

    After 10 failed attempts in a minute for one username, or 30 from one client address,
    further attempts get 429 with a Retry-After header until the minute ends.
    """

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenThrottle, SignInFailureThrottle]

    @extend_schema(request=TokenRequestSerializer, responses={200: TokenResponseSerializer})
    def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = authenticate(request, username=data["username"], password=data["password"])
        if user is None:
            signin_failure_record(username=data["username"], address=client_address(request))
            raise InvalidInput("Invalid username or password.", field="password")
        token, key = token_create(user=user, name=data["name"], scope=data["scope"])
        return Response({"token": key, "scope": token.scope, "name": token.name})


class MembershipListCreateView(ProjectAPIView):
    actions = {"get": Action.VIEW, "post": Action.MANAGE_MEMBERS}

    @extend_schema(responses=MembershipSerializer(many=True))
    def get(self, request: Request, slug: str) -> Response:
        memberships = self.project.memberships.select_related("user").order_by("user__username")
        return Response(MembershipSerializer(memberships, many=True).data)

    @extend_schema(request=MembershipCreateSerializer, responses={201: MembershipSerializer})
    def post(self, request: Request, slug: str) -> Response:
        serializer = MembershipCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        member = user_by_username(serializer.validated_data["username"], field="username")
        membership = membership_add(
            project=self.project,
            actor=authenticated_user(request),
            member=member,
            role=serializer.validated_data["role"],
        )
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class MembershipDetailView(ProjectAPIView):
    actions = {"delete": Action.MANAGE_MEMBERS}

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str, pk: int) -> Response:
        membership = (
            Membership.objects.select_related("user", "project")
            .filter(project=self.project, pk=pk)
            .first()
        )
        if membership is None:
            return Response(
                {
                    "detail": "No membership with that id in this project.",
                    "code": "not_found",
                    "errors": {},
                },
                status=status.HTTP_404_NOT_FOUND,
            )
        membership_remove(membership=membership, actor=authenticated_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
