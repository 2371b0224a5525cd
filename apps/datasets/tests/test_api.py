import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.datasets.models import DatasetVersion

CSV = b"x,label\n1,0\n2,1\n3,0\n"


def _url(project, suffix=""):
    return f"/api/v1/projects/{project.slug}/datasets/{suffix}"


def _post(client, project, content=CSV, target="label"):
    return client.post(
        _url(project),
        {"file": SimpleUploadedFile("data.csv", content), "name": "patients", "target": target},
        format="multipart",
    )


def test_data_scientist_uploads_dataset(project, alice, api_client_for):
    response = _post(api_client_for(alice), project)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "patients"
    assert body["version"] == 1
    assert len(body["sha256"]) == 64
    assert body["rows"] == 3
    assert body["columns"] == [
        {"name": "x", "dtype": "int64", "kind": "integer"},
        {"name": "label", "dtype": "int64", "kind": "integer"},
    ]
    assert body["target"] == "label"
    assert body["format"] == "csv"
    assert body["size_bytes"] == len(CSV)
    assert body["created_by"] == "alice"
    assert body["created_at"]


@pytest.mark.parametrize(("persona", "status"), [("sam", 403), ("dana", 403), ("olga", 404)])
def test_others_cannot_upload(project, api_client_for, request, persona, status):
    user = request.getfixturevalue(persona)

    response = _post(api_client_for(user), project)

    assert response.status_code == status
    assert not DatasetVersion.objects.exists()


def test_bad_file_answers_400_naming_field(project, alice, api_client_for):
    response = _post(api_client_for(alice), project, content=b"x,label\n1,0\n2,1,9\n")

    assert response.status_code == 400
    body = response.json()
    assert "Line 3" in body["detail"]
    assert "file" in body["errors"]


def test_missing_target_answers_400(project, alice, api_client_for):
    response = _post(api_client_for(alice), project, target="outcome")

    assert response.status_code == 400
    assert "Available columns: x, label" in response.json()["errors"]["target"][0]


def test_missing_fields_answer_400(project, alice, api_client_for):
    response = api_client_for(alice).post(_url(project), {}, format="multipart")

    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"file", "name", "target"}


def test_upload_over_limit_answers_413(project, alice, api_client_for, settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 8

    response = _post(api_client_for(alice), project)

    assert response.status_code == 413


@pytest.mark.parametrize(("persona", "status"), [("sam", 200), ("dana", 200), ("olga", 404)])
def test_members_list_and_read_datasets(project, alice, api_client_for, request, persona, status):
    created = _post(api_client_for(alice), project).json()
    client = api_client_for(request.getfixturevalue(persona))

    listing = client.get(_url(project))
    detail = client.get(_url(project, f"{created['id']}/"))

    assert listing.status_code == status
    assert detail.status_code == status
    if status == 200:
        assert [item["id"] for item in listing.json()] == [created["id"]]
        assert detail.json()["sha256"] == created["sha256"]


def test_dataset_of_other_project_is_404(project, regression_project, alice, api_client_for):
    client = api_client_for(alice)
    created = _post(client, project).json()

    response = client.get(_url(regression_project, f"{created['id']}/"))

    assert response.status_code == 404


def test_schema_documents_dataset_upload(alice, api_client_for):
    response = api_client_for(alice).get("/api/v1/schema/", {"format": "json"})

    assert response.status_code == 200
    operation = response.json()["paths"]["/api/v1/projects/{slug}/datasets/"]["post"]
    assert "multipart/form-data" in operation["requestBody"]["content"]
    assert "201" in operation["responses"]


def test_upload_response_gives_detection_and_profile(project, alice, api_client_for):
    content = "größe;label\n1;0\n2;1\n3;0\n".encode("cp1252")

    response = _post(api_client_for(alice), project, content=content)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["detected"] == {"encoding": "cp1252", "delimiter": ";", "quotechar": '"'}
    assert [column["name"] for column in body["columns"]] == ["größe", "label"]
    assert body["profile"][0]["name"] == "größe"
    assert body["profile"][0]["mean"] == 2.0
    assert body["profile"][1]["distinct"] == 2
