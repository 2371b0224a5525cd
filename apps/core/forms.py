from typing import Any

from django import forms


class JSONObjectField(forms.JSONField):
    """A form JSON field that reports over-deep nesting as a form error instead of crashing."""

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except RecursionError:
            raise forms.ValidationError("The JSON is nested too deeply.", code="invalid") from None
