from django.core.files.uploadedfile import SimpleUploadedFile

from apps.datasets.models import DatasetVersion

CSV = b"x,label\n" + b"".join(f"{i},{i % 2}\n".encode() for i in range(40))


def _upload(client, project, **extra):
    return client.post(
        f"/api/v1/projects/{project.slug}/datasets/",
        {"file": SimpleUploadedFile("data.csv", CSV), "name": "d", "target": "label", **extra},
        format="multipart",
    )


def test_upload_rejects_unknown_fields_by_name(project, alice, api_client_for):
    response = _upload(api_client_for(alice), project, colour="red", tagret="label")

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"colour", "tagret"}
    assert "Unknown or read-only field" in errors["colour"][0]
    assert not DatasetVersion.objects.filter(project=project).exists()


def test_upload_accepts_documented_dialect_fields(project, alice, api_client_for):
    response = _upload(api_client_for(alice), project, delimiter=",", encoding="utf-8")

    assert response.status_code == 201, response.content
