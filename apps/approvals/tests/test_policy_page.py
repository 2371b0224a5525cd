"""The policies page renders approver choices as labelled checkboxes and shows errors in place."""

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from apps.approvals.models import ApprovalPolicy, Gate
from apps.approvals.policies import policy_update
from apps.projects.models import Project

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User], Client]


def test_approver_checkbox_labels_show_username_only(
    project: Project, dana: User, client_for: ClientFor
) -> None:
    page = client_for(dana).get(f"/projects/{project.slug}/policies/").content.decode()

    approver_labels = re.findall(
        r'<label for="id_promotion-approvers_\d+">(.*?)</label>', page, flags=re.S
    )
    assert len(approver_labels) == 2
    for label in approver_labels:
        assert "Approvers" not in label
    assert re.search(r"<legend>\s*Approvers\s*</legend>", page)
    assert "dana Approvers" not in page


def test_single_checkbox_keeps_its_label(
    project: Project, dana: User, client_for: ClientFor
) -> None:
    page = client_for(dana).get(f"/projects/{project.slug}/policies/").content.decode()

    assert re.search(
        r'<label class="checkbox" for="id_promotion-check_baseline">\s*<input[^>]*>\s*'
        r"Non-ML baseline beaten</label>",
        page,
    )


def test_unreachable_approvals_shown_next_to_field(
    project: Project, dana: User, client_for: ClientFor
) -> None:
    policy_update(project=project, gate=Gate.PROMOTION, user=dana, changes={"approvers": ["dana"]})

    response = client_for(dana).post(
        f"/projects/{project.slug}/policies/",
        {
            "gate": "promotion",
            "promotion-approvals_required": "3",
            "promotion-approvers": ["dana"],
            "promotion-check_minimums": "on",
            "promotion-check_regression": "on",
            "promotion-regression_tolerance": "0.01",
            "promotion-check_baseline": "on",
            "promotion-supersede_pending": "on",
        },
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert "field-invalid" in page
    assert "approvals_required is 3" in page
    assert ApprovalPolicy.objects.get(project=project, gate=Gate.PROMOTION).approvals_required == 1
