"""Helpers for HTML views, and the error handlers of the whole site."""

from django import forms
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

from apps.core.errors import PortalError


def form_add_portal_error(form: forms.BaseForm, error: PortalError) -> None:
    """Show a service's error on the form field it names, or on the form as a whole."""
    placed = False
    for field, messages in error.errors.items():
        target = field if field in form.fields else None
        for message in messages:
            form.add_error(target, message)
            placed = True
    if not placed:
        form.add_error(None, error.message)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Return a JSON 404 for unknown API paths and Django's 404 page for everything else."""
    if _is_api(request):
        return JsonResponse(
            {"detail": "No API endpoint at this path.", "code": "not_found", "errors": {}},
            status=404,
        )
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"detail": "The server failed to handle the request.", "code": "error", "errors": {}},
            status=500,
        )
    return defaults.server_error(request)
