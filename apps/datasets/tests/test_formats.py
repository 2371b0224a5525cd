import codecs
from pathlib import Path

import pandas as pd
import pytest
from django.urls import reverse

from apps.core.errors import InvalidInput
from apps.datasets.dialect import SNIFF_BYTES
from apps.datasets.ingest import (
    TYPE_INFERENCE_BLOCK_BYTES,
    dataset_frame_read,
    table_parse,
    target_warnings,
)
from apps.datasets.models import DatasetVersion
from apps.datasets.services import dataset_create

# Enough rows that later rows fall outside the head sample and the type-inference block.
LONG_ROWS = TYPE_INFERENCE_BLOCK_BYTES // 8


def _write(tmp_path: Path, content: bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def _long_csv(last_line: str) -> bytes:
    body = "".join(f"{i},{i % 2}\n" for i in range(LONG_ROWS))
    return ("x,label\n" + body + last_line).encode("latin-1")


def test_ragged_row_after_first_block_named_by_line(tmp_path):
    path = _write(tmp_path, _long_csv("5\n"))

    with pytest.raises(InvalidInput) as caught:
        table_parse(path, file_format="csv")

    assert f"Line {LONG_ROWS + 2} has too few fields: 1 instead of 2" in caught.value.message


def test_float_after_first_block_widens_integer_column(tmp_path):
    path = _write(tmp_path, _long_csv("2.5,1\n"))

    table = table_parse(path, file_format="csv")

    kinds = {column["name"]: column["kind"] for column in table.schema}
    assert kinds["x"] == "numeric"
    assert table.table.column("x")[-1].as_py() == 2.5
    assert table.row_count == LONG_ROWS + 1


def test_latin1_byte_after_head_switches_to_cp1252(tmp_path):
    path = _write(tmp_path, _long_csv("café,1\n").replace(b"x,label", b"name,label"))
    assert path.stat().st_size > SNIFF_BYTES

    table = table_parse(path, file_format="csv")

    assert table.detected["encoding"] == "cp1252"
    assert table.table.column("name")[-1].as_py() == "café"


def test_late_non_cp1252_byte_reads_as_latin1(tmp_path):
    content = _long_csv("a\x81,1\n").replace(b"x,label", b"name,label")
    path = _write(tmp_path, content.replace(b"a\xc2\x81", b"a\x81"))

    table = table_parse(path, file_format="csv")

    assert table.detected["encoding"] == "latin-1"


def test_quoted_line_break_and_single_quotes(tmp_path):
    content = "id,'note, long',label\n1,'first\nsecond',0\n2,'x',1\n3,'y',0\n4,'z',1\n"

    table = table_parse(_write(tmp_path, content.encode()), file_format="csv")

    assert table.detected["quotechar"] == "'"
    assert table.column_names == ["id", "note, long", "label"]
    assert table.table.column("note, long")[0].as_py() == "first\nsecond"
    assert table.row_count == 4


def test_column_names_kept_as_written(tmp_path):
    content = codecs.BOM_UTF8 + ' padded ;"quoted; name";日本;label\n1;2;3;0\n'.encode()

    table = table_parse(_write(tmp_path, content), file_format="csv")

    assert table.column_names == [" padded ", "quoted; name", "日本", "label"]


def test_kinds_inferred_for_each_type(tmp_path):
    content = (
        "count,gap,price,flag,day,moment,town,note\n"
        "1,,1.5,true,2021-01-04,2021-01-04T10:00:00,Paris,alpha one\n"
        "2,4,2.5,false,2021-02-01,2021-01-05T11:30:00,Lyon,beta two\n"
        "3,5,,TRUE,2021-03-01,2021-01-06T12:00:00,Paris,gamma three\n"
    )

    table = table_parse(_write(tmp_path, content.encode()), file_format="csv")

    columns = {column["name"]: column for column in table.schema}
    assert columns["count"]["kind"] == "integer"
    assert columns["gap"]["kind"] == "integer"
    assert columns["gap"]["dtype"] == "float64"
    assert columns["price"]["kind"] == "numeric"
    assert columns["flag"]["kind"] == "boolean"
    assert columns["day"]["kind"] == "datetime"
    assert columns["moment"]["kind"] == "datetime"
    assert columns["town"]["kind"] == "categorical"
    assert columns["note"]["kind"] == "categorical"


def test_frame_read_keeps_pandas_dtypes(tmp_path):
    content = "n,m,f,b,s\n1,,1.5,True,a\n2,3,2.5,False,\n"
    path = _write(tmp_path, content.encode())

    frame = dataset_frame_read(path, file_format="csv")
    expected = pd.read_csv(path)

    assert frame.dtypes.to_dict() == expected.dtypes.to_dict()
    assert frame["s"].isna().tolist() == [False, True]


def test_truncated_parquet_rejected(tmp_path):
    path = tmp_path / "table.parquet"
    pd.DataFrame({"x": range(100), "label": [i % 2 for i in range(100)]}).to_parquet(path)
    broken = _write(tmp_path, path.read_bytes()[:-40], name="broken.parquet")

    with pytest.raises(InvalidInput) as caught:
        table_parse(broken, file_format="parquet")

    assert "not a valid Parquet file" in caught.value.message


def test_parquet_nested_column_rejected(tmp_path):
    path = tmp_path / "nested.parquet"
    pd.DataFrame({"tags": [[1, 2], [3]], "label": [0, 1]}).to_parquet(path)

    with pytest.raises(InvalidInput) as caught:
        table_parse(path, file_format="parquet")

    assert "'tags'" in caught.value.message


def test_utf16_binary_data_rejected(tmp_path):
    content = "x,label\n1,\x00\n".encode("utf-16")

    with pytest.raises(InvalidInput) as caught:
        table_parse(_write(tmp_path, content), file_format="csv")

    assert "binary data" in caught.value.message


def test_chosen_delimiter_replaces_detection(tmp_path):
    path = _write(tmp_path, b"a;b,label\n1;2,0\n3;4,1\n")

    table = table_parse(path, file_format="csv", dialect_choice={"delimiter": ";"})

    assert table.column_names == ["a", "b,label"]
    assert table.detected["delimiter"] == ";"


def test_unknown_encoding_choice_rejected(tmp_path):
    path = _write(tmp_path, b"a,label\n1,0\n")

    with pytest.raises(InvalidInput) as caught:
        table_parse(path, file_format="csv", dialect_choice={"encoding": "ebcdic"})

    assert "encoding" in caught.value.errors


def test_target_warnings_many_classes_and_single_rows():
    profile = {
        "name": "label",
        "missing": 0,
        "distinct": 3,
        "top_values": [
            {"value": "a", "count": 10},
            {"value": "b", "count": 9},
            {"value": "c", "count": 1},
        ],
    }
    many = {"name": "label", "missing": 0, "distinct": 80, "top_values": []}

    single = target_warnings(column_profile=profile, rows=20, task_type="classification")
    varied = target_warnings(column_profile=many, rows=200, task_type="classification")

    assert single == [
        "The classes c of 'label' have a single row each, so they cannot appear in both "
        "the training and the holdout rows."
    ]
    assert "has 80 classes" in varied[0]


def test_duplicate_upload_names_earlier_version(project, alice, upload):
    content = "x,label\n" + "".join(f"{i},{i % 2}\n" for i in range(12))
    first = dataset_create(
        project=project, user=alice, uploaded_file=upload(content), name="a", target_column="label"
    )
    second = dataset_create(
        project=project, user=alice, uploaded_file=upload(content), name="b", target_column="label"
    )

    # dataset_create sets these two attributes on the returned object; they are not fields.
    assert first.duplicate_of is None  # type: ignore[attr-defined]
    assert second.duplicate_of == first  # type: ignore[attr-defined]
    assert "uploaded before as a v1" in second.warnings[-1]  # type: ignore[attr-defined]


def test_api_duplicate_upload_response(project, alice, api_client_for, upload):
    client = api_client_for(alice)
    url = f"/api/v1/projects/{project.slug}/datasets/"
    content = b"x,label\n1,0\n2,1\n3,0\n"

    first = client.post(url, {"file": upload(content), "name": "p", "target": "label"})
    second = client.post(url, {"file": upload(content), "name": "p", "target": "label"})

    assert first.json()["duplicate_of"] is None
    assert second.status_code == 201
    assert second.json()["sha256"] == first.json()["sha256"]
    assert second.json()["duplicate_of"] == {"id": first.json()["id"], "name": "p", "version": 1}


def test_api_oversized_content_length_answers_413_unread(project, alice, api_client_for):
    client = api_client_for(alice)
    url = f"/api/v1/projects/{project.slug}/datasets/"

    # The declared length is far above the limit while the body is empty, so a 413 shows
    # the check ran on the header alone.
    response = client.generic(
        "POST",
        url,
        data=b"",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(10 * 1024**3),
    )

    assert response.status_code == 413
    assert "file" in response.json()["errors"]


def test_page_oversized_upload_answers_413(client_for, project, alice, settings):
    settings.DATASET_MAX_UPLOAD_BYTES = 8
    client = client_for(alice)

    response = client.generic(
        "POST",
        reverse("dataset-create", args=[project.slug]),
        data=b"",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(10 * 1024**2),
    )

    assert response.status_code == 413
    assert "upload limit" in response.text
    assert not DatasetVersion.objects.exists()


def test_dataset_page_shows_target_warnings(client_for, project, alice, upload):
    dataset = dataset_create(
        project=project,
        user=alice,
        uploaded_file=upload("x,label\n1,1\n2,\n3,0\n"),
        name="few",
        target_column="label",
    )

    response = client_for(alice).get(reverse("dataset-detail", args=[project.slug, dataset.pk]))

    assert "Check before training" in response.text
    assert "missing in 1 of 3 rows" in response.text
    assert "Only 2 rows have a target value" in response.text
