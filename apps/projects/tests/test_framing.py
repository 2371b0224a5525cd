import pytest

from apps.projects.framing import Readiness, readiness_verdict

pytestmark = pytest.mark.django_db

ALL_YES = {
    "labels_available": True,
    "data_at_decision_time": True,
    "decision_is_repeated": True,
    "rules_fall_short": True,
    "errors_tolerable": True,
    "owner_will_act": True,
}


def test_readiness_ready_when_every_answer_is_yes():
    assert readiness_verdict(ALL_YES).verdict == Readiness.READY


def test_readiness_not_suitable_without_labels():
    report = readiness_verdict({**ALL_YES, "labels_available": False})

    assert report.verdict == Readiness.NOT_SUITABLE
    assert any("recorded outcomes" in reason for reason in report.reasons)


def test_readiness_needs_work_for_unanswered_question():
    answers = {key: value for key, value in ALL_YES.items() if key != "owner_will_act"}

    report = readiness_verdict(answers)

    assert report.verdict == Readiness.NEEDS_WORK
    assert report.reasons[0].startswith("Unanswered")


def test_framing_patch_stores_answers_and_returns_readiness(project, alice, api_client_for):
    response = api_client_for(alice).patch(
        f"/api/v1/projects/{project.slug}/",
        {
            "framing": {
                "decision": "Send a biopsy for a second reading.",
                "decision_owner": "The duty pathologist.",
                "suitability": ALL_YES,
            }
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["framing"]["decision_owner"] == "The duty pathologist."
    assert body["readiness"]["verdict"] == "ready"


def test_framing_patch_rejects_unknown_question(project, alice, api_client_for):
    response = api_client_for(alice).patch(
        f"/api/v1/projects/{project.slug}/",
        {"framing": {"suitability": {"crystal_ball": True}}},
        format="json",
    )

    assert response.status_code == 400
    assert "suitability.crystal_ball" in response.json()["errors"]


def test_policy_patch_turns_on_signoff_requirement(project, alice, api_client_for):
    response = api_client_for(alice).patch(
        f"/api/v1/projects/{project.slug}/",
        {"policy": {"promotion_requires_framing_signoff": True}},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["policy"] == {"promotion_requires_framing_signoff": True}
