import re
from typing import Any

from django import forms

from apps.accounts.models import Role
from apps.core.errors import PortalError
from apps.projects.discussion import COMMENT_MAX_LENGTH
from apps.projects.framing import SUITABILITY_QUESTIONS, SuitabilityQuestion
from apps.projects.metrics import MODEL_METRICS
from apps.projects.models import Direction, MetricKind, Project, SuccessMetric, TaskType
from apps.projects.observations import NOTE_MAX_LENGTH
from apps.projects.services import MemberInput, MetricInput

DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


ERROR_COST_MAX = 1e12
"""The largest error cost or value accepted, in the project's unit.

Training multiplies a cost by the count of errors and by 1,000 for the cost per 1,000
decisions, so a bound far below the largest float keeps the expected cost finite.
"""


class PlanForm(forms.Form):
    """Expectations and error costs, shared by the project form and the framing form."""

    first_model_by = forms.DateField(required=False, widget=DATE_INPUT)
    production_by = forms.DateField(required=False, widget=DATE_INPUT)
    expected_iterations = forms.IntegerField(
        required=False,
        min_value=1,
        label="Iteration budget",
        help_text="How many iterations you expect before a model is good enough.",
    )
    cost_false_positive = forms.FloatField(
        label="Cost of a false positive",
        required=False,
        min_value=0,
        max_value=ERROR_COST_MAX,
        help_text="Cost of one false alarm, in the project's unit.",
    )
    cost_false_negative = forms.FloatField(
        label="Cost of a false negative",
        required=False,
        min_value=0,
        max_value=ERROR_COST_MAX,
        help_text="Cost of one missed positive, in the project's unit.",
    )


class ProjectForm(PlanForm):
    name = forms.CharField(max_length=200)
    business_problem = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="The decision the model supports, who acts on it and why it matters.",
    )
    task_type = forms.ChoiceField(choices=TaskType.choices)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            # A project's task type fixes its metric catalogue, so it is set once at creation.
            del self.fields["task_type"]

    def plan_fields(self) -> dict[str, Any]:
        return {name: value for name, value in self.cleaned_data.items() if name != "task_type"}


ANSWER_YES = "yes"
ANSWER_NO = "no"
ANSWER_CHOICES = [(ANSWER_YES, "Yes"), (ANSWER_NO, "No"), ("", "Unanswered")]
_ANSWER_VALUES = {ANSWER_YES: True, ANSWER_NO: False}


def suitability_field_name(key: str) -> str:
    return f"suitability_{key}"


class FramingForm(PlanForm):
    """The framing of a project: the decision, the checklist, expectations, costs and policy."""

    decision = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Decision the model supports",
        help_text="What is decided with each prediction, such as which biopsies get a second reading.",
    )
    decision_owner = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Who acts on it",
        help_text="The person or team that acts on each prediction.",
    )
    current_process = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="How it is decided today",
    )
    decision_frequency = forms.CharField(
        required=False,
        max_length=200,
        label="How often",
        help_text="Such as 400 cases a week.",
    )
    data_available = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Data and labels available",
    )
    non_ml_alternative = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Alternative without ML",
        help_text="What would be done without a model, such as a simple rule.",
    )
    checkin_every_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=365,
        label="Check-in every (days)",
        help_text="How often the team shows stakeholders where the project stands.",
    )
    value_true_positive = forms.FloatField(
        label="Value of a caught positive",
        required=False,
        min_value=0,
        max_value=ERROR_COST_MAX,
        help_text="Optional: value gained by one correctly flagged positive.",
    )
    promotion_requires_framing_signoff = forms.BooleanField(
        required=False,
        label="Promotion waits for the framing sign-off",
        help_text="Reject promotion requests until a decision maker has signed off the framing.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for question in SUITABILITY_QUESTIONS:
            self.fields[suitability_field_name(question.key)] = forms.ChoiceField(
                choices=ANSWER_CHOICES,
                required=False,
                widget=forms.RadioSelect,
                label=question.text,
                help_text=question.if_no,
            )

    def suitability_fields(self) -> list[tuple[SuitabilityQuestion, forms.BoundField]]:
        return [
            (question, self[suitability_field_name(question.key)])
            for question in SUITABILITY_QUESTIONS
        ]

    def framing_fields(self) -> dict[str, Any]:
        """Return the cleaned values as keyword arguments of ``project_update``."""
        fields = {
            name: value
            for name, value in self.cleaned_data.items()
            if not name.startswith("suitability_")
        }
        fields["suitability"] = {
            question.key: _ANSWER_VALUES[answer]
            for question in SUITABILITY_QUESTIONS
            if (answer := self.cleaned_data.get(suitability_field_name(question.key)))
            in _ANSWER_VALUES
        }
        return fields


def framing_initial(project: Project) -> dict[str, Any]:
    initial: dict[str, Any] = {
        name: getattr(project, name)
        for name in (
            "decision",
            "decision_owner",
            "current_process",
            "decision_frequency",
            "data_available",
            "non_ml_alternative",
            "first_model_by",
            "production_by",
            "expected_iterations",
            "checkin_every_days",
            "cost_false_positive",
            "cost_false_negative",
            "value_true_positive",
            "promotion_requires_framing_signoff",
        )
    }
    answers = project.suitability or {}
    for question in SUITABILITY_QUESTIONS:
        answer = answers.get(question.key)
        choice = ""
        if answer is True:
            choice = ANSWER_YES
        elif answer is False:
            choice = ANSWER_NO
        initial[suitability_field_name(question.key)] = choice
    return initial


class SignoffRequestForm(forms.Form):
    comment = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Shown to the decision makers with the request.",
    )


class ObservationForm(forms.Form):
    """A measured value of a business or operational metric, posted from the project page."""

    metric = forms.CharField(max_length=64)
    value = forms.FloatField(help_text="The measured value, in the metric's unit.")
    observed_on = forms.DateField(widget=DATE_INPUT, label="Measured on")
    note = forms.CharField(required=False, max_length=NOTE_MAX_LENGTH)


class CommentForm(forms.Form):
    body = forms.CharField(
        label="Comment",
        max_length=COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Markdown is supported. Mention a project member with @username to notify them.",
    )


class MetricForm(forms.Form):
    kind = forms.ChoiceField(choices=MetricKind.choices, initial=MetricKind.MODEL)
    name = forms.CharField(
        max_length=64,
        widget=forms.TextInput(attrs={"list": "model-metric-names", "autocomplete": "off"}),
    )
    direction = forms.ChoiceField(
        choices=[("", "From the catalogue"), *Direction.choices],
        required=False,
    )
    target = forms.FloatField()
    minimum = forms.FloatField(required=False, label="Minimum acceptable")
    stretch = forms.FloatField(required=False, label="Stretch goal")
    baseline = forms.FloatField(required=False)
    unit = forms.CharField(max_length=32, required=False)

    def to_input(self) -> MetricInput:
        data = self.cleaned_data
        return MetricInput(
            name=data["name"].strip(),
            kind=data["kind"],
            direction=data["direction"] or None,
            target=data["target"],
            minimum=data["minimum"],
            stretch=data["stretch"],
            baseline=data["baseline"],
            unit=data["unit"] or "",
        )


class MemberForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.STAKEHOLDER)

    def to_input(self) -> MemberInput:
        return MemberInput(
            username=self.cleaned_data["username"].strip(), role=self.cleaned_data["role"]
        )


MetricFormSet = forms.formset_factory(
    MetricForm, extra=3, max_num=20, validate_max=True, can_delete=True
)
MemberFormSet = forms.formset_factory(MemberForm, extra=3, max_num=50, validate_max=True)


def filled_forms(formset: forms.BaseFormSet) -> list[forms.Form]:  # type: ignore[type-arg]
    """Return the rows the user filled in, in order; blank extra rows are skipped."""
    return [
        form
        for form in formset.forms
        if form.cleaned_data and not form.cleaned_data.get("DELETE", False)
    ]


def metric_initial(metrics: list[SuccessMetric]) -> list[dict[str, Any]]:
    return [
        {
            "kind": metric.kind,
            "name": metric.name,
            "direction": "" if metric.kind == MetricKind.MODEL else metric.direction,
            "target": metric.target,
            "minimum": metric.minimum,
            "stretch": metric.stretch,
            "baseline": metric.baseline,
            "unit": metric.unit,
        }
        for metric in metrics
    ]


def model_metric_names(task_type: str | None = None) -> list[tuple[str, str]]:
    """Return (name, label) pairs of the catalogue for the name field's suggestion list."""
    return [
        (spec.name, f"{spec.label} ({spec.task_type})")
        for spec in MODEL_METRICS.values()
        if task_type is None or spec.task_type == task_type
    ]


_ROW_FIELD = re.compile(r"^(?P<group>metrics|members)\[(?P<index>\d+)\]\.(?P<field>\w+)$")


def place_service_error(
    error: PortalError,
    *,
    form: forms.Form,
    formsets: dict[str, tuple[forms.BaseFormSet, list[forms.Form]]],  # type: ignore[type-arg]
) -> None:
    """Show a service error next to the input it names.

    Services name row fields as ``metrics[2].minimum``; ``formsets`` maps ``metrics`` to its
    formset and the filled rows in the order they were passed to the service.
    """
    placed = False
    for key, messages in error.errors.items():
        match = _ROW_FIELD.match(key)
        if match is not None and match["group"] in formsets:
            formset, rows = formsets[match["group"]]
            index = int(match["index"])
            if index < len(rows):
                row = rows[index]
                field = match["field"] if match["field"] in row.fields else None
                for message in messages:
                    row.add_error(field, message)
                placed = True
                continue
        if key in formsets:
            formset, _ = formsets[key]
            formset._non_form_errors = formset.error_class(  # type: ignore[attr-defined]
                [*formset.non_form_errors(), *messages]
            )
            placed = True
            continue
        # Services name nested fields with dots (suitability.labels_available), but the
        # framing form names the same inputs with underscores.
        target = next((name for name in (key, key.replace(".", "_")) if name in form.fields), None)
        for message in messages:
            form.add_error(target, message)
        placed = True
    if not placed:
        form.add_error(None, error.message)


def project_initial(project: Project) -> dict[str, Any]:
    return {
        "name": project.name,
        "business_problem": project.business_problem,
        "first_model_by": project.first_model_by,
        "production_by": project.production_by,
        "expected_iterations": project.expected_iterations,
        "cost_false_positive": project.cost_false_positive,
        "cost_false_negative": project.cost_false_negative,
    }
