import hashlib
from pathlib import Path

import pandas as pd
import pytest
from django.conf import settings

from apps.audit.models import AuditEvent
from apps.core.errors import InvalidInput, PayloadTooLarge
from apps.datasets.models import DatasetVersion
from apps.datasets.services import dataset_create

GOOD_CSV = "age,city,joined,smoker,label\n31,Paris,2021-01-04,True,1\n45,Lyon,2020-03-01,False,0\n"


def _stored_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [path for path in root.rglob("*") if path.is_file()]


def _create(project, alice, uploaded, name="patients", target="label"):
    return dataset_create(
        project=project, user=alice, uploaded_file=uploaded, name=name, target_column=target
    )


def test_csv_upload_stores_hash_schema_and_file(project, alice, upload):
    dataset = _create(project, alice, upload(GOOD_CSV))

    expected_sha = hashlib.sha256(GOOD_CSV.encode()).hexdigest()
    assert dataset.sha256 == expected_sha
    assert dataset.version == 1
    assert dataset.format == "csv"
    assert dataset.row_count == 2
    assert dataset.column_count == 5
    assert dataset.size_bytes == len(GOOD_CSV.encode())
    assert dataset.file.name == f"datasets/{project.slug}/{expected_sha}.csv"
    assert Path(dataset.file.path).read_text() == GOOD_CSV
    kinds = {column["name"]: column["kind"] for column in dataset.schema}
    assert kinds == {
        "age": "integer",
        "city": "categorical",
        "joined": "datetime",
        "smoker": "boolean",
        "label": "integer",
    }
    assert [column["name"] for column in dataset.schema] == list(kinds)
    assert dataset.feature_columns == ["age", "city", "joined", "smoker"]


def test_upload_records_audit_event(project, alice, upload):
    dataset = _create(project, alice, upload(GOOD_CSV))

    event = AuditEvent.objects.get(action="dataset.uploaded")
    assert event.object_id == str(dataset.pk)
    assert event.actor_id == alice.pk
    assert event.after["sha256"] == dataset.sha256


def test_same_content_twice_is_new_version_same_sha(project, alice, upload):
    first = _create(project, alice, upload(GOOD_CSV))
    second = _create(project, alice, upload(GOOD_CSV))

    assert second.version == 2
    assert second.sha256 == first.sha256
    assert second.file.name == first.file.name
    assert len(_stored_files()) == 1


def test_versions_count_per_name(project, alice, upload):
    _create(project, alice, upload(GOOD_CSV), name="a")
    other = _create(project, alice, upload(GOOD_CSV), name="b")

    assert other.version == 1


def test_parquet_upload_by_extension_and_magic(project, alice, upload, tmp_path):
    frame = pd.DataFrame({"x": [1.5, 2.5, 3.5], "label": ["yes", "no", "yes"]})
    path = tmp_path / "table.parquet"
    frame.to_parquet(path)

    by_name = _create(project, alice, upload(path.read_bytes(), name="table.parquet"))
    by_magic = _create(project, alice, upload(path.read_bytes(), name="table.bin"))

    for dataset in (by_name, by_magic):
        assert dataset.format == "parquet"
        assert dataset.row_count == 3
        assert dataset.file.name.endswith(".parquet")
    assert {c["name"]: c["kind"] for c in by_name.schema} == {
        "x": "numeric",
        "label": "categorical",
    }


def test_breast_cancer_csv_upload(project, alice, upload_from_path, breast_cancer_csv):
    dataset = _create(project, alice, upload_from_path(breast_cancer_csv), target="diagnosis")

    assert dataset.row_count == 569
    assert dataset.column_count == 31
    assert dataset.sha256 == hashlib.sha256(breast_cancer_csv.read_bytes()).hexdigest()


def test_missing_target_values_give_warning(project, alice, upload):
    dataset = _create(project, alice, upload("x,label\n1,1\n2,\n3,0\n"))

    assert "missing in 1 of 3 rows" in dataset.warnings[0]
    assert "line 3" in dataset.warnings[0]


def test_too_few_labelled_rows_give_warning(project, alice, upload):
    dataset = _create(project, alice, upload("x,label\n1,1\n2,0\n3,0\n"))

    assert dataset.warnings == [
        "Only 3 rows have a target value; training needs at least 10, so every iteration "
        "on this version will fail."
    ]


def test_infinite_value_rejected_with_line(project, alice, upload):
    rows = "".join(f"{i},{i % 2}\n" for i in range(12))

    with pytest.raises(InvalidInput) as caught:
        _create(project, alice, upload("x,label\n" + rows + "1e400,1\n"))

    assert "'x'" in caught.value.message
    assert "line 14" in caught.value.message


BAD_FILES = [
    pytest.param(b"", "file", "empty", id="empty-file"),
    pytest.param(b"\n\n", "file", "no header", id="blank-lines-only"),
    pytest.param(b"x,label\n", "file", "no data rows", id="header-only"),
    pytest.param(b"x,label\n1,0\n2,1,7\n", "file", "Line 3 has too many fields", id="too-many"),
    pytest.param(b"x,y,label\n1,2,0\n3,4,1\n5,1\n", "file", "Line 4 has too few", id="too-few"),
    pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "file", "binary", id="png-bytes"),
    pytest.param(
        b"\xff\xfe" + "x,label\n1,0\n".encode("utf-16-le") + b"\x00\xd8",
        "file",
        "not valid utf-16 text",
        id="broken-utf16",
    ),
    pytest.param(b"x,x,label\n1,2,0\n", "file", "'x' appears twice", id="duplicate-column"),
    pytest.param(b"x,,label\n1,2,0\n", "file", "Column 2 on line 1", id="empty-column-name"),
    pytest.param(b"x,y\n1,0\n2,1\n", "target", "Available columns: x, y", id="target-missing"),
    pytest.param(b"x,label\n1,\n2,\n", "target", "has no values", id="target-all-empty"),
    pytest.param(b"x,label\n1,1\n2,1\n", "target", "single value", id="one-class"),
    pytest.param(b"label\n1\n0\n", "file", "only the target", id="no-features"),
    pytest.param(b"PAR1 this is not parquet", "file", "not a valid Parquet", id="fake-parquet"),
]


@pytest.mark.parametrize(("content", "field", "fragment"), BAD_FILES)
def test_bad_file_rejected_without_leftovers(project, alice, upload, content, field, fragment):
    with pytest.raises(InvalidInput) as caught:
        _create(project, alice, upload(content))

    assert field in caught.value.errors
    assert fragment in caught.value.message
    assert not DatasetVersion.objects.exists()
    assert _stored_files() == []
    assert not AuditEvent.objects.filter(action="dataset.uploaded").exists()


def test_regression_target_must_be_numeric(regression_project, alice, upload):
    with pytest.raises(InvalidInput) as caught:
        _create(regression_project, alice, upload("x,label\n1,high\n2,low\n"))

    assert "label" in caught.value.message
    assert "target" in caught.value.errors


def test_upload_over_limit_is_rejected(project, alice, upload, settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 10

    with pytest.raises(PayloadTooLarge) as caught:
        _create(project, alice, upload(GOOD_CSV))

    assert "file" in caught.value.errors
    assert not DatasetVersion.objects.exists()


def test_database_failure_removes_stored_file(project, alice, upload, monkeypatch):
    def fail(**kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr("apps.datasets.services.audit_record", fail)

    with pytest.raises(RuntimeError):
        _create(project, alice, upload(GOOD_CSV))

    assert not DatasetVersion.objects.exists()
    assert _stored_files() == []


def test_failed_second_upload_keeps_shared_file(project, alice, upload, monkeypatch):
    first = _create(project, alice, upload(GOOD_CSV))

    def fail(**kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr("apps.datasets.services.audit_record", fail)
    with pytest.raises(RuntimeError):
        _create(project, alice, upload(GOOD_CSV))

    assert Path(first.file.path).exists()
    assert DatasetVersion.objects.count() == 1
