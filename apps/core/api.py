"""API plumbing shared by every app: the error format and the project-scoped base view.

Every error body has the same shape, ``{"detail": "...", "errors": {field: [messages]}}``,
whether it comes from a serializer, a service or the permission check.
"""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from apps.accounts.access import project_get_for_user
from apps.accounts.permissions import Action
from apps.core.errors import PortalError
from apps.projects.models import Project

logger = logging.getLogger(__name__)


def _flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into a flat ``{"field.sub": [messages]}`` map."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(key, int):
                name = f"{prefix}[{key}]"
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            for field, messages in _flatten(value, name).items():
                flat.setdefault(field, []).extend(messages)
        return flat
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return {prefix or "non_field_errors": [str(item) for item in detail]}
        flat = {}
        for index, item in enumerate(detail):
            name = f"{prefix}[{index}]" if prefix else f"[{index}]"
            for field, messages in _flatten(item, name).items():
                if messages:
                    flat.setdefault(field, []).extend(messages)
        return flat
    return {prefix or "non_field_errors": [str(detail)]}


def _summary(errors: dict[str, list[str]]) -> str:
    parts = [f"{field}: {messages[0]}" for field, messages in errors.items() if messages]
    return "Invalid input. " + "; ".join(parts) if parts else "Invalid input."


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, PortalError):
        return Response(
            {"detail": exc.message, "code": exc.code, "errors": exc.errors},
            status=exc.status_code,
        )
    if isinstance(exc, DjangoValidationError):
        errors = (
            {key: [str(m) for m in value] for key, value in exc.message_dict.items()}
            if hasattr(exc, "error_dict")
            else {"non_field_errors": [str(m) for m in exc.messages]}
        )
        return Response(
            {"detail": _summary(errors), "code": "invalid", "errors": errors},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or "You do not have permission.")

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
        response.data = {"detail": _summary(errors), "code": "invalid", "errors": errors}
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        message = (
            str(detail["detail"])
            if isinstance(detail, dict) and "detail" in detail
            else str(detail)
        )
        code = exc.get_codes()
        response.data = {
            "detail": message,
            "code": code if isinstance(code, str) else "error",
            "errors": {},
        }
    return response


# The base of the endpoints under /api/v1/projects/{slug}/. Subclasses name the action each
# method needs in ``actions``. ``initial`` fetches the project through the scoped helper before
# any handler runs, so a subclass cannot skip it. This is a comment, not a docstring, because
# drf-spectacular describes an operation with the nearest class docstring, inherited ones too.
class ProjectAPIView(APIView):
    actions: dict[str, Action] = {}
    project: Project

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        action = self.actions.get(request.method.lower(), Action.VIEW)
        self.project = project_get_for_user(user=request.user, slug=kwargs["slug"], action=action)
