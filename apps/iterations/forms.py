from typing import Any

from django import forms

from apps.core.forms import JSONObjectField
from apps.datasets.models import DatasetVersion
from apps.deployments.forms import SharePercentField
from apps.iterations.recipes import recipe_choices
from apps.projects.models import Project


class IterationStartForm(forms.Form):
    dataset = forms.ModelChoiceField(queryset=DatasetVersion.objects.none())
    recipe = forms.ChoiceField(choices=())
    params = JSONObjectField(
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono", "spellcheck": "false"}),
        help_text='Hyperparameters as a JSON object, for example {"max_depth": 4}. Leave {} for defaults.',
    )
    seed = forms.IntegerField(
        initial=0, help_text="Random seed for the train/test split and the model."
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        dataset_field = self.fields["dataset"]
        assert isinstance(dataset_field, forms.ModelChoiceField)
        dataset_field.queryset = DatasetVersion.objects.filter(project=project).order_by(
            "-created_at", "-id"
        )
        # The newest version is the usual choice, so it comes preselected.
        newest = dataset_field.queryset.first()
        if newest is not None and not self.is_bound:
            self.initial.setdefault("dataset", newest.pk)
        recipe_field = self.fields["recipe"]
        assert isinstance(recipe_field, forms.ChoiceField)
        recipe_field.choices = list(recipe_choices(project.task_type))

    def clean_params(self) -> dict[str, Any]:
        params = self.cleaned_data.get("params")
        if params in (None, ""):
            return {}
        if not isinstance(params, dict):
            raise forms.ValidationError('Enter the parameters as a JSON object: {"name": value}.')
        return params


class PromotionRequestForm(forms.Form):
    comment = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why this iteration should go to production.",
    )
    canary_share = SharePercentField(
        required=False,
        label="Start as a canary at this percentage of traffic",
        help_text="On approval, the iteration answers this percentage of prediction requests "
        "beside the live version, above 0 and below 100. Leave empty to replace the live "
        "version outright.",
    )


class SpecUploadForm(forms.Form):
    file = forms.FileField(
        label="Spec file",
        help_text="A training spec JSON file, as exported from an iteration's page.",
    )


class IterationLinkForm(forms.Form):
    mlflow_run_id = forms.CharField(
        label="MLflow run id",
        max_length=64,
        help_text="A run on the portal's MLflow tracking server that logged a scikit-learn or "
        "pyfunc model, for example one trained in a notebook.",
        widget=forms.TextInput(attrs={"class": "mono", "spellcheck": "false"}),
    )
    dataset = forms.ModelChoiceField(
        queryset=DatasetVersion.objects.none(),
        help_text="The model is measured on this dataset version's holdout rows.",
    )
    seed = forms.IntegerField(
        initial=0, min_value=0, help_text="Seed of the train/test split, as for trained iterations."
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        dataset_field = self.fields["dataset"]
        assert isinstance(dataset_field, forms.ModelChoiceField)
        dataset_field.queryset = DatasetVersion.objects.filter(project=project).order_by(
            "-created_at", "-id"
        )
        newest = dataset_field.queryset.first()
        if newest is not None and not self.is_bound:
            self.initial.setdefault("dataset", newest.pk)
