"""Forms of the deployments page: start and steer rollouts, upload a file for batch scoring."""

from typing import Any

from django import forms
from django.db.models import Exists, OuterRef, QuerySet

from apps.approvals.models import ApprovalRequest, Gate, RequestStatus
from apps.deployments.models import Deployment
from apps.iterations.models import Iteration, IterationStatus
from apps.projects.models import Project


class IterationChoiceField(forms.ModelChoiceField[Iteration]):
    def label_from_instance(self, obj: Iteration) -> str:
        return f"Iteration {obj.number} ({obj.recipe}, model version {obj.model_version})"


def rollout_candidates(*, project: Project, live: Deployment | None) -> QuerySet[Iteration]:
    """Return the iterations that could run next to the live version, newest first.

    The live version's own iteration is left out because a rollout of it compares the model
    with itself, and ``rollout_start`` rejects it too.
    """
    candidates = (
        Iteration.objects.filter(
            project=project, status=IterationStatus.SUCCEEDED, is_baseline=False
        )
        .exclude(model_version="")
        .order_by("-number")
    )
    if live is not None:
        candidates = candidates.exclude(model_version=live.model_version)
    return candidates


def canary_candidates(*, project: Project, live: Deployment | None) -> QuerySet[Iteration]:
    """Return the rollout candidates that a decision maker approved for promotion."""
    approved = ApprovalRequest.objects.filter(
        iteration=OuterRef("pk"), gate=Gate.PROMOTION, status=RequestStatus.APPROVED
    )
    return rollout_candidates(project=project, live=live).filter(Exists(approved))


class SharePercentField(forms.FloatField):
    """A share of traffic entered in percent, cleaned to a fraction between 0 and 1."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", 100)
        kwargs.setdefault("widget", forms.NumberInput(attrs={"step": "any"}))
        super().__init__(**kwargs)

    def clean(self, value: Any) -> float | None:
        percent = super().clean(value)
        if percent is None:
            return None
        # min_value and max_value accept 0 and 100, which the service rejects with a message
        # in fractions; this message stays in the percent the user typed.
        if not 0 < percent < 100:
            raise forms.ValidationError(
                "Enter a percentage above 0 and below 100, such as 10 for a tenth of the requests.",
                code="share_range",
            )
        return float(percent) / 100


class ShadowRolloutForm(forms.Form):
    iteration = IterationChoiceField(
        queryset=Iteration.objects.none(),
        empty_label=None,
        help_text="Scores every request beside the live version; responses do not change.",
    )

    def __init__(
        self, *args: Any, project: Project, live: Deployment | None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("prefix", "shadow")
        super().__init__(*args, **kwargs)
        field = self.fields["iteration"]
        assert isinstance(field, IterationChoiceField)
        field.queryset = rollout_candidates(project=project, live=live)


class CanaryRolloutForm(forms.Form):
    iteration = IterationChoiceField(
        queryset=Iteration.objects.none(),
        empty_label=None,
        help_text="Only iterations with an approved promotion may serve traffic.",
    )
    share = SharePercentField(
        label="Share of traffic (%)",
        help_text="Percentage of prediction requests the candidate answers, above 0 and below 100.",
    )

    def __init__(
        self, *args: Any, project: Project, live: Deployment | None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("prefix", "canary")
        super().__init__(*args, **kwargs)
        field = self.fields["iteration"]
        assert isinstance(field, IterationChoiceField)
        field.queryset = canary_candidates(project=project, live=live)


class RolloutShareForm(forms.Form):
    share = SharePercentField(
        label="Share of traffic (%)",
        help_text="Percentage of prediction requests the canary answers, above 0 and below 100.",
    )


class BatchUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="A CSV with a header row and the model's feature columns; other columns are "
        "copied to the output unchanged.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )
