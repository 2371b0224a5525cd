from django import forms

from apps.approvals.policies import MAX_APPROVALS_REQUIRED
from apps.approvals.services import MAX_COMMENT_LENGTH


class DecisionForm(forms.Form):
    comment = forms.CharField(
        required=False,
        max_length=MAX_COMMENT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Shown to the team and kept in the audit trail.",
    )
    override_justification = forms.CharField(
        required=False,
        max_length=MAX_COMMENT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Required to approve while a check fails; shown wherever the approval appears.",
    )


class PolicyForm(forms.Form):
    approvals_required = forms.IntegerField(
        min_value=1,
        max_value=MAX_APPROVALS_REQUIRED,
        help_text="How many different decision makers must approve.",
    )
    approvers = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Leave all unticked to let every decision maker of the project decide.",
    )
    check_minimums = forms.BooleanField(required=False, label="Every minimum met on the holdout")
    check_regression = forms.BooleanField(
        required=False, label="No regression against the live version"
    )
    regression_tolerance = forms.FloatField(
        required=False, min_value=0, help_text="Largest accepted drop, in each metric's own unit."
    )
    check_baseline = forms.BooleanField(required=False, label="Non-ML baseline beaten")
    require_reproduced = forms.BooleanField(required=False, label="Iteration reproduced")
    supersede_pending = forms.BooleanField(
        required=False, label="A new request supersedes the older pending one"
    )
    require_framing_signoff = forms.BooleanField(
        required=False, label="Framing signed off (promotion only)"
    )

    def __init__(
        self, *args: object, approver_choices: list[tuple[str, str]], **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["approvers"].choices = approver_choices  # type: ignore[attr-defined]


class RetirementRequestForm(forms.Form):
    deployment = forms.TypedChoiceField(
        coerce=int,
        required=False,
        empty_value=None,
        help_text="Leave empty to retire the whole project.",
    )
    comment = forms.CharField(
        label="Reason",
        max_length=MAX_COMMENT_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Who relies on these predictions today, and why they can stop.",
    )

    def __init__(self, *args: object, deployment_choices: list[tuple[int, str]], **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["deployment"].choices = [  # type: ignore[attr-defined]
            ("", "The whole project"),
            *deployment_choices,
        ]
