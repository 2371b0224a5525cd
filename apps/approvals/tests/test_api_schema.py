"""The OpenAPI schema describes operations and components only with their own docstrings."""

from collections.abc import Callable, Iterator
from typing import Any

from django.contrib.auth.models import User
from rest_framework.test import APIClient

# Sentences from the docstrings of base classes, which drf-spectacular would copy into every
# subclass that has no docstring of its own.
BASE_CLASS_SENTENCES = [
    "Base for endpoints under",
    "Subclasses name the",
    "A serializer that rejects keys it does not declare",
    "Expects the prefetches",
]


def _descriptions(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("description", "summary") and isinstance(value, str):
                yield path, value
            else:
                yield from _descriptions(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _descriptions(item, f"{path}[{index}]")


def test_schema_has_no_base_class_descriptions(
    alice: User, api_client_for: Callable[[User], APIClient]
) -> None:
    response = api_client_for(alice).get("/api/v1/schema/?format=json")

    assert response.status_code == 200
    schema = response.json()
    descriptions = list(_descriptions(schema))
    assert len(descriptions) > 20
    leaks = [
        (path, text)
        for path, text in descriptions
        for sentence in BASE_CLASS_SENTENCES
        if sentence in text
    ]
    assert leaks == []


def test_schema_lists_new_endpoints(
    alice: User, api_client_for: Callable[[User], APIClient]
) -> None:
    paths = api_client_for(alice).get("/api/v1/schema/?format=json").json()["paths"]

    assert "post" in paths["/api/v1/promotions/{id}/request-changes/"]
    assert "get" in paths["/api/v1/projects/{slug}/audit/export/"]
