from collections.abc import Mapping
from typing import Any

from rest_framework import serializers


class StrictSerializer(serializers.Serializer[Any]):
    """A serializer that rejects keys it does not declare.

    A typo or a read-only field such as ``stage`` gets a 400 naming it, instead of being
    dropped while the request returns 200.
    """

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
