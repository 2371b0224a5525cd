from django import forms


class DatasetUploadForm(forms.Form):
    file = forms.FileField(help_text="A CSV or Parquet file with a header row.")
    name = forms.CharField(
        max_length=200,
        help_text="Uploading again under the same name creates the next version.",
    )
    target = forms.CharField(
        label="Target column",
        max_length=255,
        help_text="The column the model learns to predict.",
    )
