from typing import Any

from rest_framework import serializers

from apps.core.serializers import StrictSerializer
from apps.datasets.dialect import CSV_DELIMITERS, CSV_ENCODINGS, CSV_QUOTECHARS
from apps.datasets.models import DatasetVersion


class DatasetUploadSerializer(StrictSerializer):
    """The multipart fields of a dataset upload; any other field is rejected by name."""

    file = serializers.FileField(
        help_text=(
            "A CSV with a header row, or a Parquet file. The CSV may be UTF-8, UTF-16 with a "
            "byte order mark, or cp1252, separated by commas, semicolons, tabs or pipes."
        )
    )
    name = serializers.CharField(max_length=200, help_text="Dataset name; versions count per name.")
    target = serializers.CharField(max_length=255, help_text="Name of the column to predict.")
    encoding = serializers.ChoiceField(
        choices=list(CSV_ENCODINGS),
        required=False,
        help_text="CSV text encoding to use instead of the detected one.",
    )
    delimiter = serializers.ChoiceField(
        choices=list(CSV_DELIMITERS),
        required=False,
        help_text="CSV delimiter to use instead of the detected one.",
    )
    quotechar = serializers.ChoiceField(
        choices=list(CSV_QUOTECHARS),
        required=False,
        help_text="CSV quote character to use instead of the detected one.",
    )


class ColumnSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    dtype = serializers.CharField(help_text="pandas dtype after parsing.")
    kind = serializers.ChoiceField(
        choices=["numeric", "integer", "boolean", "categorical", "datetime", "text"]
    )


class DatasetVersionSerializer(serializers.ModelSerializer[DatasetVersion]):
    rows = serializers.IntegerField(source="row_count", read_only=True)
    columns = ColumnSerializer(source="schema", many=True, read_only=True)
    target = serializers.CharField(source="target_column", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True)
    detected = serializers.JSONField(
        read_only=True,
        help_text='How the CSV is written: {"encoding", "delimiter", "quotechar"}; '
        "empty for Parquet.",
    )
    profile = serializers.JSONField(
        read_only=True,
        help_text="Per column: missing count and share, distinct count; min, max, mean and a "
        "10-bin histogram for numbers; the 10 most frequent values otherwise. "
        '"distinct_estimated" is true where the distinct count is a HyperLogLog estimate '
        "(relative standard error 0.8%), which happens only above 10,000 distinct values of a "
        "numeric column.",
    )
    duplicate_of = serializers.SerializerMethodField(
        help_text="In the upload response only: the earliest version of this project with the "
        'same sha256, as {"id", "name", "version"}, or null for content not seen before.'
    )
    warnings = serializers.SerializerMethodField(
        help_text="Findings of the upload that did not stop it; only in the upload response."
    )

    class Meta:
        model = DatasetVersion
        fields = [
            "id",
            "name",
            "version",
            "sha256",
            "rows",
            "columns",
            "target",
            "format",
            "size_bytes",
            "original_filename",
            "created_at",
            "created_by",
            "detected",
            "profile",
            "duplicate_of",
            "warnings",
        ]
        read_only_fields = fields

    def get_duplicate_of(self, dataset: DatasetVersion) -> dict[str, Any] | None:
        earlier = getattr(dataset, "duplicate_of", None)
        if earlier is None:
            return None
        return {"id": earlier.pk, "name": earlier.name, "version": earlier.version}

    def get_warnings(self, dataset: DatasetVersion) -> list[str]:
        return list(getattr(dataset, "warnings", []))
