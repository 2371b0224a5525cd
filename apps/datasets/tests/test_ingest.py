import codecs
from pathlib import Path

import pyarrow as pa
import pytest

from apps.core.errors import InvalidInput
from apps.datasets.ingest import (
    csv_dialect_detect,
    dataset_frame_read,
    encoding_detect,
    profile_compute,
    schema_infer,
    table_parse,
)
from apps.datasets.services import dataset_create
from apps.iterations.services import iteration_run, iteration_start

LATIN1_TEXT = "café;prix;label\nthé;1,5;1\ncrème;2,5;0\n"


def _write(tmp_path: Path, content: bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param("a,b\n1,é\n".encode(), "utf-8", id="utf-8"),
        pytest.param(codecs.BOM_UTF8 + "a,b\n1,é\n".encode(), "utf-8-sig", id="utf-8-bom"),
        pytest.param("a,b\n1,é\n".encode("utf-16"), "utf-16", id="utf-16-bom"),
        pytest.param("a,b\n1,é\n".encode("cp1252"), "cp1252", id="cp1252"),
        pytest.param(b"a,b\n1,\x81\n", "latin-1", id="byte-undefined-in-cp1252"),
    ],
)
def test_encoding_detect_by_bom_and_validity(tmp_path, content, expected):
    assert encoding_detect(_write(tmp_path, content)) == expected


@pytest.mark.parametrize(
    ("delimiter", "expected"),
    [(",", ","), (";", ";"), ("\t", "\t"), ("|", "|"), (":", ",")],
    ids=["comma", "semicolon", "tab", "pipe", "colon-reads-as-comma"],
)
def test_delimiter_detect_among_four(tmp_path, delimiter, expected):
    rows = [["name", "size", "label"], ["a b", "1.5", "0"], ["c", "2", "1"], ["d", "3", "1"]]
    text = "".join(delimiter.join(row) + "\n" for row in rows)

    dialect = csv_dialect_detect(_write(tmp_path, text.encode()))

    assert dialect.delimiter == expected


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_parse_reads_columns_with_detected_delimiter(tmp_path, delimiter):
    text = f'id{delimiter}"note, quoted"{delimiter}label\n1{delimiter}"x, y"{delimiter}0\n'
    text += f"2{delimiter}z{delimiter}1\n"

    table = table_parse(_write(tmp_path, text.encode()), file_format="csv")

    assert table.column_names == ["id", "note, quoted", "label"]
    assert table.table.column("note, quoted").to_pylist() == ["x, y", "z"]
    assert table.detected == {"encoding": "utf-8", "delimiter": delimiter, "quotechar": '"'}


def test_parse_latin1_keeps_accented_header_and_value(tmp_path):
    path = _write(tmp_path, LATIN1_TEXT.encode("cp1252"))

    table = table_parse(path, file_format="csv")

    assert table.column_names == ["café", "prix", "label"]
    assert table.table.column("café").to_pylist() == ["thé", "crème"]
    assert table.detected["encoding"] == "cp1252"
    assert table.detected["delimiter"] == ";"


@pytest.mark.parametrize(
    "content",
    [
        pytest.param('"größe","é name",label\n1,a,0\n'.encode("utf-16"), id="utf-16-bom"),
        pytest.param(codecs.BOM_UTF8 + '"größe","é name",label\n1,a,0\n'.encode(), id="utf-8-bom"),
    ],
)
def test_parse_strips_bom_and_quotes_from_header(tmp_path, content):
    table = table_parse(_write(tmp_path, content), file_format="csv")

    assert table.column_names == ["größe", "é name", "label"]
    assert table.table.column("é name").to_pylist() == ["a"]


def test_ragged_row_found_with_detected_delimiter(tmp_path):
    path = _write(tmp_path, b"a;b;label\n1;2;0\n3;4;1\n5;6\n")

    with pytest.raises(InvalidInput) as caught:
        table_parse(path, file_format="csv")

    assert "Line 4 has too few fields: 2 instead of 3" in caught.value.message


def test_frame_read_uses_stored_detection(tmp_path):
    path = _write(tmp_path, LATIN1_TEXT.encode("cp1252"))
    detected = table_parse(path, file_format="csv").detected

    frame = dataset_frame_read(path, file_format="csv", detected=detected)

    assert list(frame.columns) == ["café", "prix", "label"]
    assert frame["café"].tolist() == ["thé", "crème"]


def test_frame_read_without_stored_detection_detects_again(tmp_path):
    path = _write(tmp_path, LATIN1_TEXT.encode("cp1252"))

    frame = dataset_frame_read(path, file_format="csv")

    assert list(frame.columns) == ["café", "prix", "label"]


def test_profile_numbers_of_small_column():
    table = pa.table(
        {"x": [1.0, 2.0, None, 4.0, 2.0], "colour": ["red", "blue", "red", None, "red"]}
    )

    x, colour = profile_compute(table, schema=schema_infer(table))

    assert x["missing"] == 1
    assert x["missing_share"] == 0.2
    assert x["distinct"] == 3
    assert x["min"] == 1.0
    assert x["max"] == 4.0
    assert x["mean"] == 2.25
    assert len(x["histogram"]) == 10
    assert x["histogram"][0] == {"low": 1.0, "high": 1.3, "count": 1}
    assert [bin_["count"] for bin_ in x["histogram"]] == [1, 0, 0, 2, 0, 0, 0, 0, 0, 1]
    assert x["histogram"][-1]["high"] == 4.0
    assert colour["missing_share"] == 0.2
    assert colour["distinct"] == 2
    assert colour["top_values"] == [{"value": "red", "count": 3}, {"value": "blue", "count": 1}]
    assert "min" not in colour


def test_profile_of_empty_numeric_column_has_no_nan():
    table = pa.table({"x": pa.array([None, None], type=pa.float64())})

    (x,) = profile_compute(table, schema=schema_infer(table))

    assert x["missing_share"] == 1.0
    assert x["min"] is None
    assert x["mean"] is None
    assert x["histogram"] == []


def test_upload_stores_detection_and_profile(project, alice, upload):
    content = "âge\tlabel\n" + "".join(f"{i}\t{i % 2}\n" for i in range(20))

    dataset = dataset_create(
        project=project,
        user=alice,
        uploaded_file=upload(content.encode("utf-16")),
        name="visits",
        target_column="label",
    )

    dataset.refresh_from_db()
    assert dataset.detected == {"encoding": "utf-16", "delimiter": "\t", "quotechar": '"'}
    assert [column["name"] for column in dataset.profile] == ["âge", "label"]
    assert dataset.profile[0]["mean"] == 9.5
    assert dataset.profile[1]["distinct"] == 2


def test_training_reads_semicolon_latin1_dataset(project, alice, upload):
    lines = ["température;ville;label"]
    for i in range(60):
        town = ["Orléans", "Besançon", "Nîmes"][i % 3]
        lines.append(f"{20 + (i % 7) * 1.5};{town};{int(i % 7 > 3)}")
    content = ("\n".join(lines) + "\n").encode("cp1252")
    dataset = dataset_create(
        project=project,
        user=alice,
        uploaded_file=upload(content),
        name="weather",
        target_column="label",
    )
    assert dataset.detected == {"encoding": "cp1252", "delimiter": ";", "quotechar": '"'}

    iteration = iteration_start(
        project=project,
        user=alice,
        dataset_id=dataset.pk,
        recipe="logistic_regression",
        params={},
        seed=3,
    )
    iteration_run(iteration_id=iteration.pk)

    iteration.refresh_from_db()
    assert iteration.status == "succeeded", iteration.status_reason
    assert set(iteration.feature_columns or dataset.feature_columns) == {"température", "ville"}
