"""Helpers for HTML views: turn service errors into form errors."""

from django import forms

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
