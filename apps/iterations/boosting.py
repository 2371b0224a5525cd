"""Estimators from the optional gradient boosting libraries, imported only when installed.

Install them with the ``boost`` extra: ``pip install -e '.[boost]'``.
"""

import importlib.util
from typing import Any

LIGHTGBM_INSTALLED = importlib.util.find_spec("lightgbm") is not None
XGBOOST_INSTALLED = importlib.util.find_spec("xgboost") is not None

CLASSIFICATION = "classification"


def lightgbm_build(task_type: str, params: dict[str, Any], seed: int) -> Any:
    from lightgbm import LGBMClassifier, LGBMRegressor

    estimator = LGBMClassifier if task_type == CLASSIFICATION else LGBMRegressor
    return estimator(
        n_estimators=params["n_estimators"],
        learning_rate=params["learning_rate"],
        num_leaves=params["num_leaves"],
        # LightGBM spells "no depth limit" as -1.
        max_depth=-1 if params["max_depth"] is None else params["max_depth"],
        min_child_samples=params["min_child_samples"],
        reg_lambda=params["reg_lambda"],
        random_state=seed,
        n_jobs=1,
        verbose=-1,
    )


def xgboost_build(task_type: str, params: dict[str, Any], seed: int) -> Any:
    from xgboost import XGBRegressor

    options = {
        "n_estimators": params["n_estimators"],
        "learning_rate": params["learning_rate"],
        "max_depth": params["max_depth"],
        "min_child_weight": params["min_child_weight"],
        "reg_lambda": params["reg_lambda"],
        "subsample": params["subsample"],
        "random_state": seed,
        "n_jobs": 1,
        "tree_method": "hist",
    }
    if task_type == CLASSIFICATION:
        return _label_encoded_xgb_classifier()(**options)
    return XGBRegressor(**options)


_CLASSIFIER_CLASS: list[type] = []


def _label_encoded_xgb_classifier() -> type:
    """Return an XGBClassifier subclass that accepts any class labels, built once."""
    if not _CLASSIFIER_CLASS:
        from apps.iterations.xgboost_classifier import LabelEncodedXGBClassifier

        _CLASSIFIER_CLASS.append(LabelEncodedXGBClassifier)
    return _CLASSIFIER_CLASS[0]
