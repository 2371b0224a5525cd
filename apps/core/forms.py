from typing import Any

from django import forms
from django.forms.fields import InvalidJSONInput


class JSONObjectField(forms.JSONField):
    """A form JSON field that reports over-deep nesting as a form error instead of crashing.

    Python's decoder raises RecursionError, not a decoding error, past about a thousand
    levels; Django's field catches only the latter, both when cleaning and when it shows the
    submitted text again.
    """

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except RecursionError:
            raise forms.ValidationError("The JSON is nested too deeply.", code="invalid") from None

    def bound_data(self, data: Any, initial: Any) -> Any:
        try:
            return super().bound_data(data, initial)
        except RecursionError:
            return InvalidJSONInput(data)
