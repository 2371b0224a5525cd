"""Long lists in spec diffs are summarized, with the full list folded away."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.template import Context, Template
from django.urls import reverse

from apps.iterations.models import Iteration
from apps.projects.models import Project

LIVE_COLUMNS = [f"mean {index}" for index in range(30)]
WIDE_COLUMNS = [f"c{index}" for index in range(2000)]


def _render(value: object, other: object = None) -> str:
    template = Template("{% load portal %}{% spec_value value other %}")
    return template.render(Context({"value": value, "other": other}))


def test_long_list_summary_counts_and_first_names():
    html = _render(WIDE_COLUMNS, LIVE_COLUMNS)

    summary = html.split("<details>")[0]
    assert "2000 items: <code>c0, c1, c2, c3, c4</code>" in summary
    assert "2000 added: <code>c0, c1, c2, c3, c4</code>, and 1995 more" in summary
    assert "30 removed: <code>mean 0, mean 1, mean 2, mean 3, mean 4</code>" in summary
    assert "c1999" not in summary


def test_long_list_full_content_in_details():
    html = _render(WIDE_COLUMNS, LIVE_COLUMNS)

    details = html.split("<details>")[1]
    assert "<summary>All 2000 items</summary>" in details
    assert "c1998, c1999</code>" in details


def test_short_list_and_scalar_render_as_code():
    assert "<details>" not in _render(["a", "b"], ["a"])
    assert "[&#x27;a&#x27;, &#x27;b&#x27;]" in _render(["a", "b"])
    assert _render(None) == '<span class="muted">not set</span>'


def test_long_list_without_other_has_no_added_or_removed():
    html = _render(WIDE_COLUMNS)

    assert "added" not in html
    assert "removed" not in html


def test_names_are_escaped():
    html = _render([f"<b>{index}" for index in range(10)], [])

    assert "<b>" not in html
    assert "&lt;b&gt;0" in html


@pytest.mark.django_db
def test_compare_page_folds_long_feature_columns(
    client_for, project: Project, make_iteration: Callable[..., Iteration], sam: User
):
    make_iteration(1, feature_columns=LIVE_COLUMNS)
    make_iteration(2, feature_columns=WIDE_COLUMNS)

    response = client_for(sam).get(
        reverse("iteration-compare", args=[project.slug]), {"iterations": "1,2"}
    )

    html = response.content.decode()
    spec = html.split('id="spec-heading"')[1].split("</table>")[0]
    assert response.status_code == 200
    assert "30 items: <code>mean 0, mean 1, mean 2, mean 3, mean 4</code>" in spec
    assert "2000 added: <code>c0, c1, c2, c3, c4</code>, and 1995 more" in spec
    assert "<summary>All 2000 items</summary>" in spec
    assert spec.count("<details>") == 2
