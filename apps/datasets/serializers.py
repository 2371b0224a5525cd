from typing import Any

from rest_framework import serializers

from apps.datasets.models import DatasetVersion


class DatasetUploadSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(
        help_text="A CSV (UTF-8, comma-separated, header row) or Parquet file."
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
            "warnings",
        ]
        read_only_fields = fields

    def get_warnings(self, dataset: DatasetVersion) -> list[str]:
        return list(getattr(dataset, "warnings", []))
