from typing import Any

from rest_framework import serializers

from apps.datasets.models import DatasetVersion


class DatasetUploadSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(
        help_text=(
            "A CSV with a header row, or a Parquet file. The CSV may be UTF-8, UTF-16 with a "
            "byte order mark, or cp1252, separated by commas, semicolons, tabs or pipes."
        )
    )
    name = serializers.CharField(max_length=200, help_text="Dataset name; versions count per name.")
    target = serializers.CharField(max_length=255, help_text="Name of the column to predict.")


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
        "10-bin histogram for numbers; the 10 most frequent values otherwise.",
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
            "warnings",
        ]
        read_only_fields = fields

    def get_warnings(self, dataset: DatasetVersion) -> list[str]:
        return list(getattr(dataset, "warnings", []))
