import pytest

from apps.accounts.models import ApiToken, Membership, Role

pytestmark = pytest.mark.django_db


def test_token_exchange_returns_working_key(alice, client):
    response = client.post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": "portal-test-password"},
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    key = response.json()["token"]
    assert client.get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200


def test_token_is_stored_only_as_hash(alice, client):
    key = client.post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": "portal-test-password"},
        content_type="application/json",
    ).json()["token"]

    token = ApiToken.objects.get(user=alice)
    assert token.key_hash != key
    assert key not in token.key_hash


def test_wrong_password_is_a_400_naming_password(alice, client):
    response = client.post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": "wrong"},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "password" in response.json()["errors"]


def test_revoked_token_is_rejected(alice, client):
    key = client.post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": "portal-test-password"},
        content_type="application/json",
    ).json()["token"]
    ApiToken.objects.get(user=alice).revoke()

    response = client.get("/api/v1/projects/", HTTP_AUTHORIZATION=f"Token {key}")

    assert response.status_code == 401


def test_read_only_token_cannot_write(alice, client):
    key = client.post(
        "/api/v1/auth/token/",
        {"username": "alice", "password": "portal-test-password", "scope": "read"},
        content_type="application/json",
    ).json()["token"]

    response = client.post(
        "/api/v1/projects/", {}, content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}"
    )

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("persona", "expected_status"),
    [("alice", 201), ("sam", 403), ("dana", 403), ("olga", 404)],
)
def test_adding_member_requires_owner(project, request, api_client_for, persona, expected_status):
    request.getfixturevalue("make_user")("newcomer")
    client = api_client_for(request.getfixturevalue(persona))

    response = client.post(
        f"/api/v1/projects/{project.slug}/members/",
        {"username": "newcomer", "role": "stakeholder"},
        format="json",
    )

    assert response.status_code == expected_status, response.content


def test_last_owner_cannot_be_removed(project, alice, api_client_for):
    owner = Membership.objects.get(project=project, role=Role.OWNER)

    response = api_client_for(alice).delete(f"/api/v1/projects/{project.slug}/members/{owner.pk}/")

    assert response.status_code == 409
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_openapi_schema_and_docs_are_served(alice, client):
    client.force_login(alice)

    assert client.get("/api/v1/schema/").status_code == 200
    assert client.get("/api/v1/docs/").status_code == 200
