import json
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from apps.audit.models import AuditEvent
from apps.core.errors import Conflict, InvalidInput
from apps.iterations.models import Iteration, IterationStatus
from apps.iterations.services import iteration_fail, iteration_run, iteration_start
from apps.iterations.specs import iteration_reproduce, iteration_spec, iteration_start_from_spec
from apps.iterations.tests.uploads import cancer_dataset

__all__ = ["cancer_dataset"]

FEATURES = ["mean radius", "mean texture", "mean smoothness", "worst concave points"]


def _url(project, suffix=""):
    return f"/api/v1/projects/{project.slug}/iterations/{suffix}"


def _trained(project, user, dataset):
    iteration = iteration_start(
        project=project,
        user=user,
        dataset_id=dataset.pk,
        recipe="logistic_regression",
        params={"C": 0.5},
        seed=7,
        feature_columns=FEATURES,
    )
    iteration_run(iteration_id=iteration.pk)
    iteration.refresh_from_db()
    assert iteration.status == IterationStatus.SUCCEEDED, iteration.status_reason
    return iteration


def _spec(dataset, **changes):
    spec = {
        "version": 1,
        "dataset_sha256": dataset.sha256,
        "target": "diagnosis",
        "feature_columns": FEATURES,
        "recipe": "logistic_regression",
        "params": {"C": 0.5},
        "seed": 7,
        "test_size": 0.2,
        "metrics": ["roc_auc", "recall"],
    }
    spec.update(changes)
    return spec


def test_spec_round_trip_gives_identical_metrics(project, alice, cancer_dataset):
    original = _trained(project, alice, cancer_dataset)

    spec = iteration_spec(original)
    rerun = iteration_start_from_spec(project=project, user=alice, spec=spec)
    iteration_run(iteration_id=rerun.pk)
    rerun.refresh_from_db()

    assert spec == _spec(cancer_dataset, params=original.params)
    assert rerun.status == IterationStatus.SUCCEEDED
    assert rerun.feature_columns == FEATURES
    assert rerun.params == original.params
    assert rerun.metrics == original.metrics
    assert rerun.reproduction_of is None
    assert AuditEvent.objects.filter(action="iteration.started_from_spec").count() == 1


def test_spec_without_optional_keys_uses_defaults(project, alice, cancer_dataset):
    spec = {
        "version": 1,
        "dataset_sha256": cancer_dataset.sha256,
        "target": "diagnosis",
        "recipe": "baseline",
    }

    iteration = iteration_start_from_spec(project=project, user=alice, spec=spec)

    assert iteration.seed == 0
    assert iteration.test_size == 0.2
    assert "mean radius" in iteration.feature_columns
    assert "diagnosis" not in iteration.feature_columns


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"colour": "red"}, "spec.colour"),
        ({"version": 2}, "spec.version"),
        ({"version": True}, "spec.version"),
        ({"dataset_sha256": "f" * 64}, "spec.dataset_sha256"),
        ({"dataset_sha256": 12}, "spec.dataset_sha256"),
        ({"dataset_sha256": "not hex"}, "spec.dataset_sha256"),
        ({"target": "mean radius"}, "spec.target"),
        ({"target": 3}, "spec.target"),
        ({"feature_columns": ["no such column"]}, "spec.feature_columns"),
        ({"feature_columns": ["diagnosis"]}, "spec.feature_columns"),
        ({"feature_columns": ["mean radius", "mean radius"]}, "spec.feature_columns"),
        ({"feature_columns": []}, "spec.feature_columns"),
        ({"feature_columns": "mean radius"}, "spec.feature_columns"),
        ({"recipe": "ridge"}, "spec.recipe"),
        ({"recipe": ["logistic_regression"]}, "spec.recipe"),
        ({"params": {"C": "high"}}, "spec.params.C"),
        ({"params": {"depth": 2}}, "spec.params.depth"),
        ({"params": [1]}, "spec.params"),
        ({"seed": "seven"}, "spec.seed"),
        ({"seed": -1}, "spec.seed"),
        ({"seed": 2.5}, "spec.seed"),
        ({"test_size": 0.9}, "spec.test_size"),
        ({"test_size": "a fifth"}, "spec.test_size"),
        ({"metrics": "roc_auc"}, "spec.metrics"),
        ({"metrics": [1]}, "spec.metrics"),
    ],
)
def test_invalid_spec_names_field(project, alice, cancer_dataset, api_client_for, changes, field):
    before = Iteration.objects.count()

    response = api_client_for(alice).post(
        _url(project, "from-spec/"), _spec(cancer_dataset, **changes), format="json"
    )

    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]
    assert Iteration.objects.count() == before


@pytest.mark.parametrize("key", ["version", "dataset_sha256", "target", "recipe"])
def test_spec_missing_required_key_is_invalid(project, alice, cancer_dataset, key):
    spec = _spec(cancer_dataset)
    del spec[key]

    with pytest.raises(InvalidInput) as raised:
        iteration_start_from_spec(project=project, user=alice, spec=spec)

    assert f"spec.{key}" in raised.value.errors


def test_spec_body_must_be_object(project, alice, cancer_dataset, api_client_for):
    response = api_client_for(alice).post(_url(project, "from-spec/"), [1, 2], format="json")

    assert response.status_code == 400
    assert "spec" in response.json()["errors"]


def test_spec_file_upload_starts_iteration(project, alice, cancer_dataset, api_client_for):
    upload = SimpleUploadedFile("spec.json", json.dumps(_spec(cancer_dataset)).encode())

    response = api_client_for(alice).post(
        _url(project, "from-spec/"), {"file": upload}, format="multipart"
    )

    assert response.status_code == 202, response.json()
    assert response.json()["status"] == "queued"
    assert response.json()["feature_columns"] == FEATURES


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b"[1, 2]"])
def test_bad_spec_file_is_rejected(project, alice, cancer_dataset, api_client_for, content):
    upload = SimpleUploadedFile("spec.json", content)

    response = api_client_for(alice).post(
        _url(project, "from-spec/"), {"file": upload}, format="multipart"
    )

    assert response.status_code == 400
    assert "file" in response.json()["errors"]


def test_spec_upload_without_file_is_rejected(project, alice, cancer_dataset, api_client_for):
    response = api_client_for(alice).post(
        _url(project, "from-spec/"), {"other": "x"}, format="multipart"
    )

    assert response.status_code == 400
    assert "file" in response.json()["errors"]


@pytest.mark.parametrize(
    ("persona", "status"), [("alice", 202), ("sam", 403), ("dana", 403), ("olga", 404)]
)
def test_start_from_spec_by_role(project, cancer_dataset, api_client_for, request, persona, status):
    client = api_client_for(request.getfixturevalue(persona))

    response = client.post(_url(project, "from-spec/"), _spec(cancer_dataset), format="json")

    assert response.status_code == status
    assert Iteration.objects.filter(is_baseline=False).exists() == (status == 202)


def test_spec_download_is_attachment(project, alice, sam, cancer_dataset, api_client_for):
    iteration = Iteration.objects.get(project=project, number=1)

    response = api_client_for(sam).get(_url(project, "1/spec/"))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == (
        f'attachment; filename="{project.slug}-iteration-1-spec.json"'
    )
    assert json.loads(response.content) == iteration_spec(iteration)


def test_spec_download_hidden_from_outsider(project, olga, cancer_dataset, api_client_for):
    response = api_client_for(olga).get(_url(project, "1/spec/"))

    assert response.status_code == 404


def test_reproduce_records_reproduced(project, alice, cancer_dataset, api_client_for):
    original = _trained(project, alice, cancer_dataset)

    rerun = iteration_reproduce(iteration=original, user=alice)
    iteration_run(iteration_id=rerun.pk)
    original.refresh_from_db()

    assert rerun.reproduction_of == original
    assert original.reproduction["status"] == "reproduced"
    assert original.reproduction["iteration"] == rerun.number
    assert original.reproduction["differences"] == {}
    assert original.reproduction["checked_at"]
    assert AuditEvent.objects.filter(action="iteration.reproduction_requested").count() == 1
    assert AuditEvent.objects.filter(action="iteration.reproduction_checked").count() == 1
    detail = api_client_for(alice).get(_url(project, f"{original.number}/")).json()
    assert detail["reproduction"]["status"] == "reproduced"
    rerun_detail = api_client_for(alice).get(_url(project, f"{rerun.number}/")).json()
    assert rerun_detail["reproduction_of"] == original.number


def test_reproduce_records_differences(project, alice, cancer_dataset):
    original = _trained(project, alice, cancer_dataset)
    real_auc = original.metrics["roc_auc"]

    rerun = iteration_reproduce(iteration=original, user=alice)
    Iteration.objects.filter(pk=original.pk).update(
        metrics={**original.metrics, "roc_auc": 0.5, "made_up": 1.0}
    )
    iteration_run(iteration_id=rerun.pk)
    original.refresh_from_db()

    assert original.reproduction["status"] == "differs"
    assert original.reproduction["differences"] == {
        "roc_auc": [0.5, real_auc],
        "made_up": [1.0, None],
    }


def test_reproduce_records_failed_rerun(project, alice, cancer_dataset):
    original = _trained(project, alice, cancer_dataset)

    rerun = iteration_reproduce(iteration=original, user=alice)
    iteration_fail(iteration_id=rerun.pk, reason="The worker ran out of memory.")
    original.refresh_from_db()

    assert original.reproduction["status"] == "failed"
    assert original.reproduction["iteration"] == rerun.number
    assert original.reproduction["differences"] == {}


def test_reproduce_rejects_unfinished_iteration(project, alice, cancer_dataset):
    queued = Iteration.objects.get(project=project, number=1)

    with pytest.raises(Conflict):
        iteration_reproduce(iteration=queued, user=alice)


@pytest.mark.parametrize(
    ("persona", "status"), [("alice", 202), ("sam", 403), ("dana", 403), ("olga", 404)]
)
def test_reproduce_by_role(
    project, alice, cancer_dataset, api_client_for, request, persona, status
):
    Iteration.objects.filter(project=project, number=1).update(
        status=IterationStatus.SUCCEEDED, metrics={"roc_auc": 0.5}
    )
    client = api_client_for(request.getfixturevalue(persona))

    response = client.post(_url(project, "1/reproduce/"))

    assert response.status_code == status
    reruns = Iteration.objects.filter(reproduction_of__number=1)
    assert reruns.exists() == (status == 202)
    if status == 202:
        assert response.json()["reproduction_of"] == 1
        assert response.json()["status"] == "queued"


def test_reproduce_queued_iteration_is_conflict(project, alice, cancer_dataset, api_client_for):
    response = api_client_for(alice).post(_url(project, "1/reproduce/"))

    assert response.status_code == 409


def test_train_command_queues_iteration(project, alice, cancer_dataset, tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(_spec(cancer_dataset)))
    output = StringIO()

    call_command(
        "train", "--project", project.slug, "--user", "alice", "--spec", str(path), stdout=output
    )

    iteration = Iteration.objects.get(project=project, is_baseline=False)
    assert iteration.status == IterationStatus.QUEUED
    assert iteration.feature_columns == FEATURES
    assert f"Iteration {iteration.number} of {project.slug} queued" in output.getvalue()


@pytest.mark.parametrize(
    ("username", "spec_text", "message"),
    [
        ("sam", None, "does not allow"),
        ("olga", None, "No project"),
        ("nobody", None, "No active user"),
        ("alice", "{", "not valid JSON"),
        ("alice", '{"version": 1}', "spec.dataset_sha256"),
    ],
)
def test_train_command_reports_errors(
    project, olga, cancer_dataset, tmp_path, username, spec_text, message
):
    path = tmp_path / "spec.json"
    path.write_text(spec_text if spec_text is not None else json.dumps(_spec(cancer_dataset)))

    with pytest.raises(CommandError, match=message):
        call_command("train", project=project.slug, user=username, spec=str(path))

    assert not Iteration.objects.filter(is_baseline=False).exists()


def test_train_command_reports_missing_file(project, alice, tmp_path):
    with pytest.raises(CommandError, match="Cannot read the spec file"):
        call_command(
            "train", project=project.slug, user="alice", spec=str(tmp_path / "absent.json")
        )


def test_spec_exports_as_yaml_and_starts_from_yaml_file(
    project, alice, cancer_dataset, api_client_for
):
    client = api_client_for(alice)

    exported = client.get(_url(project, "1/spec/?file_format=yaml"))
    upload = SimpleUploadedFile("spec.yaml", exported.content)
    started = client.post(_url(project, "from-spec/"), {"file": upload}, format="multipart")

    assert exported.status_code == 200
    assert exported["Content-Type"] == "application/yaml"
    assert exported["Content-Disposition"].endswith('-iteration-1-spec.yaml"')
    assert exported.content.startswith(b"version: 1\n")
    assert started.status_code == 202, started.json()
    assert started.json()["recipe"] == Iteration.objects.get(project=project, number=1).recipe


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"version: [1\n", "not valid YAML"),
        (b"- 1\n- 2\n", "must contain a YAML mapping"),
        (b"a: &x [1, 2]\nb: *x\n", "aliases"),
    ],
)
def test_bad_yaml_spec_file_is_rejected(
    project, alice, cancer_dataset, api_client_for, content, message
):
    upload = SimpleUploadedFile("spec.yml", content)

    response = api_client_for(alice).post(
        _url(project, "from-spec/"), {"file": upload}, format="multipart"
    )

    assert response.status_code == 400
    assert message in response.json()["errors"]["file"][0]


def test_spec_export_rejects_unknown_file_format(project, alice, cancer_dataset, api_client_for):
    response = api_client_for(alice).get(_url(project, "1/spec/?file_format=xml"))

    assert response.status_code == 400
    assert "file_format" in response.json()["errors"]
