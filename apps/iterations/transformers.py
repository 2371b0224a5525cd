"""Preprocessing steps of our own that go inside logged pipelines.

This module imports no Django code, because skops imports it again wherever a logged model is
loaded, including processes that never configure Django.
"""

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

DATE_PARTS = ("year", "month", "day", "day_of_week")
TIME_PART = "hour"


def _as_datetime(values: Any) -> "pd.Series[Any]":
    series = pd.Series(values).reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(series):
        parsed = pd.to_datetime(series, utc=True)
    else:
        # Strings in several formats or offsets are common in CSV exports, so each value is
        # parsed on its own and converted to UTC. Values that do not parse become missing.
        parsed = pd.to_datetime(series.astype("string"), errors="coerce", format="mixed", utc=True)
    return parsed


class DatetimeParts(TransformerMixin, BaseEstimator):
    """Expand datetime columns into numeric year, month, day, day of week and hour columns.

    Accepts datetime values or strings, so a served model takes the same raw strings as the
    training file. The hour is kept only for columns where some training value has a time of
    day other than midnight. Values that do not parse become NaN, for an imputer to fill.
    """

    def fit(self, X: Any, y: Any = None) -> "DatetimeParts":
        frame = pd.DataFrame(X)
        self.feature_names_in_ = np.asarray([str(column) for column in frame.columns], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        parts: list[list[str]] = []
        for column in frame.columns:
            parsed = _as_datetime(frame[column])
            has_time = bool(((parsed.dt.hour != 0) | (parsed.dt.minute != 0)).fillna(False).any())
            parts.append([*DATE_PARTS, TIME_PART] if has_time else list(DATE_PARTS))
        self.parts_ = parts
        return self

    def transform(self, X: Any) -> np.ndarray[Any, Any]:
        frame = pd.DataFrame(X)
        columns: list[np.ndarray[Any, Any]] = []
        for position, parts in enumerate(self.parts_):
            parsed = _as_datetime(frame.iloc[:, position])
            for part in parts:
                values = getattr(parsed.dt, part)
                columns.append(values.to_numpy(dtype=float, na_value=np.nan))
        if not columns:
            return np.empty((len(frame), 0))
        return np.column_stack(columns)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray[Any, Any]:
        names = self.feature_names_in_ if input_features is None else input_features
        return np.asarray(
            [
                f"{column}_{part}"
                for column, parts in zip(names, self.parts_, strict=True)
                for part in parts
            ],
            dtype=object,
        )
