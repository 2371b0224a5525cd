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
