from django import forms


class DecisionForm(forms.Form):
    comment = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Shown to the team and kept in the audit trail.",
    )
