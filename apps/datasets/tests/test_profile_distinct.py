"""Distinct counts in the column profile: exact up to a bound, estimated and flagged above it."""

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.datasets.ingest import profile_compute, schema_infer
from apps.datasets.models import DatasetVersion
from apps.datasets.profile import (
    DISTINCT_EXACT_MAX,
    DISTINCT_RELATIVE_ERROR,
    _sketch_cardinality,
    distinct_estimate,
)

# Three standard errors: a deterministic hash and seeded data make each case reproducible,
# and this tolerance holds for about 99.7 % of data sets.
TOLERANCE = 3 * DISTINCT_RELATIVE_ERROR


def _profile(**columns: pa.Array | pa.ChunkedArray) -> list[dict[str, Any]]:
    table = pa.table(columns)
    return profile_compute(table, schema=schema_infer(table))


def test_estimate_within_error_on_floats():
    generator = np.random.default_rng(17)
    values = generator.normal(scale=3.0, size=400_000).round(4)
    values[::50] = np.nan
    column = pa.chunked_array(np.array_split(values, 40))
    exact = pc.count_distinct(column, mode="only_valid").as_py() - 1

    (entry,) = _profile(x=column)

    assert entry["distinct_estimated"] is True
    assert abs(entry["distinct"] / exact - 1) <= TOLERANCE
    assert entry["missing"] == 8_000


def test_estimate_within_error_on_integers():
    values = np.random.default_rng(3).permutation(np.arange(1_000_000, dtype=np.int64) * 7919)

    estimate = distinct_estimate(values)

    assert abs(estimate / 1_000_000 - 1) <= TOLERANCE


def test_estimate_ignores_repeated_values():
    values = np.tile(np.arange(50_000, dtype=np.float64) / 3, 20)

    estimate = distinct_estimate(values)

    assert abs(estimate / 50_000 - 1) <= TOLERANCE


def test_sketch_cardinality_known_values():
    # Reference values of the same estimator for 2**12 registers and 52-bit remainders,
    # computed by an independent implementation.
    all_ones = np.ones(4096, dtype=np.uint8)
    hundred_ones = np.zeros(4096, dtype=np.uint8)
    hundred_ones[:100] = 1
    one_empty = np.full(4096, 3, dtype=np.uint8)
    one_empty[0] = 0

    assert _sketch_cardinality(all_ones, remainder_bits=52) == 5909
    assert _sketch_cardinality(hundred_ones, remainder_bits=52) == 101
    assert _sketch_cardinality(one_empty, remainder_bits=52) == 23597


def test_estimate_of_empty_array_is_zero():
    assert distinct_estimate(np.empty(0, dtype=np.float64)) == 0


def test_float_count_at_bound_is_exact():
    values = np.tile(np.arange(DISTINCT_EXACT_MAX, dtype=np.float64) / 7, 5)

    (entry,) = _profile(x=pa.array(values))

    assert entry["distinct"] == DISTINCT_EXACT_MAX
    assert entry["distinct_estimated"] is False


def test_float_count_past_bound_stays_exact():
    values = np.arange(DISTINCT_EXACT_MAX + 1, dtype=np.float64) / 7

    (entry,) = _profile(x=pa.array(values))

    assert entry["distinct"] == DISTINCT_EXACT_MAX + 1
    assert entry["distinct_estimated"] is False


def test_few_classes_stay_exact():
    generator = np.random.default_rng(5)
    labels = generator.integers(0, 51, size=200_000)
    scores = generator.integers(0, 51, size=200_000) / 10

    label, score = _profile(label=pa.array(labels), score=pa.array(scores))

    assert label["distinct"] == 51
    assert label["distinct_estimated"] is False
    assert score["distinct"] == 51
    assert score["distinct_estimated"] is False


def test_wide_integer_column_is_estimated():
    values = np.random.default_rng(9).integers(-(10**12), 10**12, size=300_000)

    (entry,) = _profile(x=pa.array(values))

    assert entry["distinct_estimated"] is True
    assert abs(entry["distinct"] / len(np.unique(values)) - 1) <= TOLERANCE


def test_text_count_is_always_exact():
    words = [f"word-{index}" for index in range(30_000)]

    (entry,) = _profile(word=pa.array(words))

    assert entry["distinct"] == 30_000
    assert entry["distinct_estimated"] is False
    assert entry["kind"] == "text"


def test_large_column_statistics_match_numpy():
    generator = np.random.default_rng(21)
    values = generator.normal(loc=5.0, size=300_000)
    values[::100] = np.inf
    mask = generator.random(300_000) < 0.01
    column = pa.chunked_array([pa.array(values[:150_000], mask=mask[:150_000]), values[150_000:]])
    present = np.concatenate([values[:150_000][~mask[:150_000]], values[150_000:]])
    finite = present[np.isfinite(present)]

    (entry,) = _profile(x=column)

    assert entry["missing"] == int(mask[:150_000].sum())
    assert entry["min"] == finite.min()
    assert entry["max"] == finite.max()
    assert entry["mean"] == np.float64(finite.mean())
    expected_counts, _ = np.histogram(finite, bins=10, range=(finite.min(), finite.max()))
    assert [bin_["count"] for bin_ in entry["histogram"]] == expected_counts.tolist()


def test_narrow_integers_counted_exactly():
    values = np.random.default_rng(2).integers(-100, 101, size=50_000).astype(np.int8)

    (entry,) = _profile(x=pa.array(values))

    assert entry["distinct"] == len(np.unique(values))
    assert entry["min"] == -100.0
    assert entry["max"] == 100.0
    expected_counts, _ = np.histogram(values, bins=10, range=(-100.0, 100.0))
    assert [bin_["count"] for bin_ in entry["histogram"]] == expected_counts.tolist()


def test_close_huge_integers_get_one_bin():
    values = np.uint64(2**63) + np.arange(20, dtype=np.uint64)

    (entry,) = _profile(x=pa.array(values))

    assert entry["distinct"] == 20
    assert entry["histogram"] == [{"low": 2.0**63, "high": 2.0**63, "count": 20}]


def _many_values_csv() -> bytes:
    generator = np.random.default_rng(11)
    measures = generator.normal(size=15_000)
    lines = ["measure,label"] + [
        f"{measure:.6f},{index % 2}" for index, measure in enumerate(measures)
    ]
    return ("\n".join(lines) + "\n").encode()


def test_api_flags_estimated_distinct_count(project, alice, api_client_for):
    client = api_client_for(alice)

    response = client.post(
        f"/api/v1/projects/{project.slug}/datasets/",
        {
            "file": SimpleUploadedFile("many.csv", _many_values_csv()),
            "name": "many",
            "target": "label",
        },
        format="multipart",
    )

    assert response.status_code == 201, response.json()
    measure, label = response.json()["profile"]
    assert measure["distinct_estimated"] is True
    assert abs(measure["distinct"] / 15_000 - 1) <= TOLERANCE
    assert label["distinct_estimated"] is False
    assert label["distinct"] == 2
    detail = client.get(f"/api/v1/projects/{project.slug}/datasets/{response.json()['id']}/")
    assert detail.json()["profile"][0]["distinct_estimated"] is True


def test_dataset_page_marks_estimated_count(client_for, project, alice):
    client = client_for(alice)
    client.post(
        reverse("dataset-create", args=[project.slug]),
        {
            "file": SimpleUploadedFile("many.csv", _many_values_csv()),
            "name": "many",
            "target": "label",
        },
    )
    dataset = DatasetVersion.objects.get(project=project, name="many")

    response = client.get(reverse("dataset-detail", args=[project.slug, dataset.pk]))

    assert response.status_code == 200
    estimated = dataset.profile[0]["distinct"]
    assert f"≈&nbsp;{estimated}</abbr>" in response.text
    assert "≈&nbsp;2<" not in response.text
