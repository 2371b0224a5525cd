from collections.abc import Mapping
from typing import Any

from rest_framework import serializers


# A serializer that rejects keys it does not declare: a typo or a read-only field such as
# ``stage`` gets a 400 naming it, instead of being dropped while the request returns 200. This is
# a comment, not a docstring, because drf-spectacular would show a docstring as the description
# of every subclass's schema component.
class StrictSerializer(serializers.Serializer[Any]):
    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                allowed = ", ".join(sorted(self.fields))
                raise serializers.ValidationError(
                    {
                        name: [f"Unknown or read-only field. Fields accepted here: {allowed}."]
                        for name in unknown
                    }
                )
        return super().to_internal_value(data)
