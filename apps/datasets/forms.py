from django import forms

from apps.datasets.dialect import CSV_ENCODINGS

DETECT_CHOICE = ("", "Detect")


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
    encoding = forms.ChoiceField(
        choices=[DETECT_CHOICE, *[(encoding, encoding) for encoding in CSV_ENCODINGS]],
        required=False,
        help_text="CSV only: the text encoding, if detection picked the wrong one.",
    )
    delimiter = forms.ChoiceField(
        choices=[DETECT_CHOICE, (",", "comma"), (";", "semicolon"), ("\t", "tab"), ("|", "pipe")],
        required=False,
        help_text="CSV only: the field delimiter, if detection picked the wrong one.",
    )
    quotechar = forms.ChoiceField(
        label="Quote character",
        choices=[DETECT_CHOICE, ('"', 'double quote (")'), ("'", "single quote (')")],
        required=False,
        help_text="CSV only: the quote character, if detection picked the wrong one.",
    )

    def dialect_choice(self) -> dict[str, str]:
        """Return the CSV settings the user chose; detection fills in the others."""
        return {
            key: self.cleaned_data[key]
            for key in ("encoding", "delimiter", "quotechar")
            if self.cleaned_data.get(key)
        }
