from django.conf import settings
from django.db import models


class DatasetFormat(models.TextChoices):
    CSV = "csv", "CSV"
    PARQUET = "parquet", "Parquet"


class DatasetVersion(models.Model):
    """An immutable uploaded file with its content hash, schema and target column."""

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="datasets"
    )
    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField()
    file = models.FileField(upload_to="datasets/", max_length=300)
    original_filename = models.CharField(max_length=255)
    format = models.CharField(max_length=8, choices=DatasetFormat.choices)
    sha256 = models.CharField(max_length=64, db_index=True)
    size_bytes = models.BigIntegerField()
    row_count = models.PositiveIntegerField()
    column_count = models.PositiveIntegerField()
    schema = models.JSONField(
        help_text='List of {"name", "dtype", "kind"} per column, in file order.'
    )
    target_column = models.CharField(max_length=255)
    detected = models.JSONField(
        default=dict,
        blank=True,
        help_text='How the CSV is written: {"encoding", "delimiter", "quotechar"}. Empty for '
        "Parquet.",
    )
    profile = models.JSONField(
        default=list,
        blank=True,
        help_text="Per-column statistics at upload: missing share, distinct count, range and "
        "histogram, in file order.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name", "version"], name="dataset_unique_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def feature_columns(self) -> list[str]:
        return [column["name"] for column in self.schema if column["name"] != self.target_column]
