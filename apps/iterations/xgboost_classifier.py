"""XGBoost's classifier with class labels of any kind. Imports xgboost, so import it lazily.

XGBClassifier expects the labels 0 to k-1, while datasets carry labels such as 1/2 or
"fraud"/"ok". This subclass encodes the labels for training and decodes its predictions, so
it behaves like a scikit-learn classifier with ``classes_`` in sorted label order. Like
``transformers``, it imports no Django code because skops imports it on load.
"""

from typing import Any

import numpy as np
from sklearn.preprocessing import LabelEncoder
from xgboost import XGBClassifier


class LabelEncodedXGBClassifier(XGBClassifier):
    def fit(self, X: Any, y: Any, **kwargs: Any) -> "LabelEncodedXGBClassifier":
        encoder = LabelEncoder().fit(np.asarray(y))
        super().fit(X, encoder.transform(np.asarray(y)), **kwargs)
        self.label_classes_ = np.asarray(encoder.classes_.tolist())
        return self

    @property
    def classes_(self) -> np.ndarray[Any, Any]:
        # XGBClassifier's own classes_, the encoded range 0 to k-1, applies until fit ends.
        labels = self.__dict__.get("label_classes_")
        return np.arange(self.n_classes_) if labels is None else np.asarray(labels)

    def predict(self, X: Any, **kwargs: Any) -> np.ndarray[Any, Any]:
        encoded = np.asarray(super().predict(X, **kwargs)).astype(int)
        return np.asarray(self.classes_)[encoded]
