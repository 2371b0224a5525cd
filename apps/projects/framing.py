"""The ML-suitability checklist and the readiness verdict derived from it."""

from collections.abc import Mapping
from dataclasses import dataclass

from django.db import models


class Readiness(models.TextChoices):
    READY = "ready", "Ready for ML"
    NEEDS_WORK = "needs_work", "Framing needs work"
    NOT_SUITABLE = "not_suitable", "Not suitable for ML yet"


@dataclass(frozen=True)
class SuitabilityQuestion:
    key: str
    text: str
    blocking: bool
    if_no: str


SUITABILITY_QUESTIONS: tuple[SuitabilityQuestion, ...] = (
    SuitabilityQuestion(
        "labels_available",
        "Outcomes (labels) are recorded for enough past cases.",
        True,
        "Without recorded outcomes a model cannot be trained or evaluated.",
    ),
    SuitabilityQuestion(
        "data_at_decision_time",
        "The input data exists at the moment the decision is made.",
        True,
        "A model cannot use data that arrives after the decision.",
    ),
    SuitabilityQuestion(
        "decision_is_repeated",
        "The decision is made often enough for automation to pay off.",
        False,
        "A rare decision rarely repays the cost of building and running a model.",
    ),
    SuitabilityQuestion(
        "rules_fall_short",
        "Simple rules do not already solve the problem well enough.",
        False,
        "Try the simple rule first; the automatic baseline iteration measures it.",
    ),
    SuitabilityQuestion(
        "errors_tolerable",
        "Occasional wrong predictions are acceptable, with a fallback for them.",
        False,
        "Plan a fallback for wrong predictions before relying on a model.",
    ),
    SuitabilityQuestion(
        "owner_will_act",
        "A named person or team will act on each prediction.",
        False,
        "A prediction nobody acts on changes nothing.",
    ),
)

SUITABILITY_KEYS = frozenset(question.key for question in SUITABILITY_QUESTIONS)


@dataclass(frozen=True)
class ReadinessReport:
    verdict: str
    reasons: tuple[str, ...]


def readiness_verdict(answers: Mapping[str, bool | None]) -> ReadinessReport:
    """Judge readiness: a blocking 'no' makes ML unsuitable, any other gap needs work."""
    blocking: list[str] = []
    gaps: list[str] = []
    for question in SUITABILITY_QUESTIONS:
        answer = answers.get(question.key)
        if answer is True:
            continue
        if answer is None:
            gaps.append(f"Unanswered: {question.text}")
        elif question.blocking:
            blocking.append(question.if_no)
        else:
            gaps.append(question.if_no)
    if blocking:
        return ReadinessReport(Readiness.NOT_SUITABLE, tuple(blocking + gaps))
    if gaps:
        return ReadinessReport(Readiness.NEEDS_WORK, tuple(gaps))
    return ReadinessReport(Readiness.READY, ("Every suitability check is answered yes.",))
