from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

# The page tests share the dashboards tests' fixtures, which create rows directly.
from apps.dashboards.tests.conftest import client_for, dataset, make_iteration

__all__ = ["client_for", "dataset", "make_iteration"]


@pytest.fixture
def upload() -> Callable[..., SimpleUploadedFile]:
    """Build an in-memory upload from text or bytes."""

    def make(content: str | bytes, name: str = "data.csv") -> SimpleUploadedFile:
        data = content.encode() if isinstance(content, str) else content
        return SimpleUploadedFile(name, data, content_type="text/csv")

    return make


@pytest.fixture
def upload_from_path() -> Callable[[Path], SimpleUploadedFile]:
    def make(path: Path) -> SimpleUploadedFile:
        return SimpleUploadedFile(path.name, path.read_bytes(), content_type="text/csv")

    return make
