"""Helpers for HTML views, and the error handlers of the whole site."""

from django import forms
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import Resolver404
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


def _message(exception: Exception | None) -> str:
    """Return the exception's message when it was written for people, else an empty string."""
    # The URL resolver's Resolver404 carries a dict of tried patterns, not a sentence.
    if exception is None or isinstance(exception, Resolver404) or not exception.args:
        return ""
    first = exception.args[0]
    return first if isinstance(first, str) else ""


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Return a JSON 404 for unknown API paths and the portal's 404 page for everything else."""
    if _is_api(request):
        return JsonResponse(
            {"detail": "No API endpoint at this path.", "code": "not_found", "errors": {}},
            status=404,
        )
    context = {"request_path": request.path, "message": _message(exception)}
    return render(request, "404.html", context, status=404)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Return a JSON 403 under /api/ and the portal's 403 page, with the reason, elsewhere."""
    message = _message(exception)
    if _is_api(request):
        return JsonResponse(
            {
                "detail": message or "You do not have permission to do this.",
                "code": "forbidden",
                "errors": {},
            },
            status=403,
        )
    return render(request, "403.html", {"exception": message}, status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    """Return a JSON 500 under /api/ and the standalone 500 page elsewhere."""
    if _is_api(request):
        return JsonResponse(
            {"detail": "The server failed to handle the request.", "code": "error", "errors": {}},
            status=500,
        )
    # Django's handler renders 500.html without a request, so no context processor or
    # database query can fail a second time while the error page renders.
    return defaults.server_error(request)


def favicon(request: HttpRequest) -> HttpResponse:
    """Redirect the browsers' default /favicon.ico request to the SVG icon in static files."""
    return redirect(static("portal/favicon.svg"))
