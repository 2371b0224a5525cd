from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apps.core.errors import InvalidInput
from apps.dashboards.comparison import ITERATION_NUMBER_MAX, comparison_numbers_parse
from apps.iterations.models import Iteration
from apps.projects.models import Project

OUT_OF_RANGE = ["99999999999999999999", str(ITERATION_NUMBER_MAX + 1), "0", "²", "1" * 5000]


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_parse_rejects_out_of_range_number(text: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        comparison_numbers_parse(f"{text},3")

    assert "iterations" in raised.value.errors


def test_parse_accepts_largest_database_integer() -> None:
    assert comparison_numbers_parse(f"{ITERATION_NUMBER_MAX},3") == [ITERATION_NUMBER_MAX, 3]


def test_compare_api_rejects_huge_number(
    api_client_for: Callable[[User], APIClient],
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(3)

    response = api_client_for(sam).get(
        f"/api/v1/projects/{project.slug}/compare/?iterations=99999999999999999999,3"
    )

    assert response.status_code == 400
    assert "iterations" in response.json()["errors"]


def test_compare_page_rejects_huge_number(
    client_for: Callable[[User], Client],
    project: Project,
    make_iteration: Callable[..., Iteration],
    sam: User,
) -> None:
    make_iteration(3)

    response = client_for(sam).get(
        reverse("iteration-compare", args=[project.slug]),
        {"iterations": "99999999999999999999,3"},
    )

    assert response.status_code == 400
    assert "Iteration numbers must be whole numbers" in response.content.decode()
