"""Training specs as code: the JSON or YAML document that describes one iteration's training.

A spec names its dataset by content (sha256) rather than by id, so it can be kept in a
repository and replayed later, or in the portal by ``manage.py train``.
"""

import json
import logging
from typing import Any

import yaml
from django.contrib.auth.models import User
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from apps.audit.services import audit_record
from apps.core.errors import Conflict, InvalidInput, PayloadTooLarge, PortalError
from apps.datasets.models import DatasetVersion
from apps.iterations.models import Iteration, IterationSource, IterationStatus
from apps.iterations.services import iteration_start, training_features
from apps.projects.models import MetricKind, Project

logger = logging.getLogger(__name__)

SPEC_VERSION = 1
SPEC_FILE_MAX_BYTES = 1024 * 1024
SPEC_REQUIRED_KEYS = ("version", "dataset_sha256", "target", "recipe")
SPEC_KEYS = frozenset(
    {*SPEC_REQUIRED_KEYS, "feature_columns", "params", "seed", "test_size", "metrics"}
)
SHA256_HEX_LENGTH = 64


def spec_check_trained(iteration: Iteration) -> None:
    """Raise Conflict for an iteration linked from MLflow, which has no training spec."""
    if iteration.source == IterationSource.LINKED:
        raise Conflict(
            f"Iteration {iteration.number} was linked from MLflow run {iteration.mlflow_run_id} "
            "and trained outside the portal, so it has no training spec to export or rerun."
        )


def iteration_spec(iteration: Iteration) -> dict[str, Any]:
    """Return the training spec of ``iteration``; starting from it trains the same model."""
    dataset = iteration.dataset
    model_metrics = iteration.project.metrics.filter(kind=MetricKind.MODEL).order_by("id")
    return {
        "version": SPEC_VERSION,
        "dataset_sha256": dataset.sha256,
        "target": dataset.target_column,
        "feature_columns": list(iteration.feature_columns) or training_features(dataset),
        "recipe": iteration.recipe,
        "params": dict(iteration.params),
        "seed": iteration.seed,
        "test_size": iteration.test_size,
        "metrics": [metric.name for metric in model_metrics],
    }


SPEC_YAML_SUFFIXES = (".yaml", ".yml")


def spec_filename(iteration: Iteration, *, file_format: str = "json") -> str:
    return f"{iteration.project.slug}-iteration-{iteration.number}-spec.{file_format}"


def spec_yaml_dump(spec: dict[str, Any]) -> str:
    """Return ``spec`` as YAML in the key order of the JSON export."""
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)


class _SpecYamlLoader(yaml.SafeLoader):
    """A safe loader that also rejects aliases, so a small file cannot expand into a huge
    document (the "billion laughs" attack)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in a spec", None
            )
        return super().compose_node(parent, index)


def _spec_yaml_load(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_SpecYamlLoader)  # noqa: S506 - a safe loader subclass
    except yaml.YAMLError as error:
        raise InvalidInput(f"The spec file is not valid YAML: {error}.", field="file") from None


def _spec_json_load(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(
            f"The spec file is not valid JSON: {error}. A YAML spec needs a name ending "
            "in .yaml or .yml.",
            field="file",
        ) from None


def spec_from_upload(uploaded: UploadedFile[Any] | None) -> dict[str, Any]:
    """Read a spec from an uploaded file: YAML when its name ends in .yaml or .yml, else JSON."""
    if uploaded is None:
        raise InvalidInput("Choose a spec file to upload.", field="file")
    if uploaded.size is not None and uploaded.size > SPEC_FILE_MAX_BYTES:
        raise PayloadTooLarge(
            f"The spec file is {uploaded.size} bytes; the maximum is {SPEC_FILE_MAX_BYTES}.",
            field="file",
        )
    raw = uploaded.read(SPEC_FILE_MAX_BYTES + 1)
    if len(raw) > SPEC_FILE_MAX_BYTES:
        raise PayloadTooLarge(
            f"The spec file is larger than the maximum of {SPEC_FILE_MAX_BYTES} bytes.",
            field="file",
        )
    is_yaml = (uploaded.name or "").lower().endswith(SPEC_YAML_SUFFIXES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("The spec file is not UTF-8 text.", field="file") from None
    try:
        spec = _spec_yaml_load(text) if is_yaml else _spec_json_load(text)
    except RecursionError:
        # Both parsers recurse once per nesting level and overflow Python's stack near a
        # thousand levels, which no spec comes close to.
        raise InvalidInput(
            f"The spec file {uploaded.name!r} is nested too deeply to be a training spec.",
            field="file",
        ) from None
    if not isinstance(spec, dict):
        kind = "YAML mapping" if is_yaml else "JSON object"
        raise InvalidInput(f"The spec file must contain a {kind}.", field="file")
    return spec


def _shape_errors(spec: dict[str, Any]) -> dict[str, list[str]]:
    """Return errors for unknown or missing keys and wrong value types.

    Ranges, recipe names and parameters are checked afterwards by ``iteration_start``.
    """
    errors: dict[str, list[str]] = {}

    def add(key: str, message: str) -> None:
        errors.setdefault(f"spec.{key}", []).append(message)

    for key in sorted(spec.keys() - SPEC_KEYS, key=str):
        add(str(key), f"Unknown key {key!r}. Known keys: {', '.join(sorted(SPEC_KEYS))}.")
    for key in SPEC_REQUIRED_KEYS:
        if key not in spec:
            add(key, "This key is missing.")

    version = spec.get("version", SPEC_VERSION)
    if isinstance(version, bool) or version != SPEC_VERSION:
        add("version", f"Unsupported spec version {version!r}; this portal reads version 1.")
    sha256 = spec.get("dataset_sha256", "0" * SHA256_HEX_LENGTH)
    if not (
        isinstance(sha256, str)
        and len(sha256) == SHA256_HEX_LENGTH
        and all(c in "0123456789abcdef" for c in sha256)
    ):
        add("dataset_sha256", "Give the dataset's sha256 as 64 lowercase hex digits.")
    for key in ("target", "recipe"):
        if not isinstance(spec.get(key, ""), str):
            add(key, f"The {key} must be a string.")
    if "params" in spec and not isinstance(spec["params"], dict):
        add("params", 'The params must be a JSON object: {"name": value}.')
    for key in ("feature_columns", "metrics"):
        value = spec.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            add(key, f"The {key} must be a list of strings.")
    seed = spec.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        add("seed", f"The seed must be an integer, not {seed!r}.")
    test_size = spec.get("test_size", 0.2)
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)):
        add("test_size", f"The test size must be a number, not {test_size!r}.")
    return errors


def _spec_dataset(project: Project, spec: dict[str, Any]) -> DatasetVersion:
    versions = DatasetVersion.objects.filter(project=project, sha256=spec["dataset_sha256"])
    if not versions.exists():
        raise InvalidInput(
            f"No dataset version of this project has sha256 {spec['dataset_sha256']}. Upload "
            "the file first.",
            field="spec.dataset_sha256",
        )
    # Two versions can share a file but not a target, so the target picks among them.
    dataset = versions.filter(target_column=spec["target"]).order_by("-created_at", "-id").first()
    if dataset is None:
        targets = sorted(set(versions.values_list("target_column", flat=True)))
        raise InvalidInput(
            f"The dataset with this sha256 has target {', '.join(targets)}, not "
            f"{spec['target']!r}.",
            field="spec.target",
        )
    return dataset


def _prefixed(error: PortalError) -> PortalError:
    """Return ``error`` with its field names moved under ``spec.``, keeping its class."""
    return type(error)(
        error.message, errors={f"spec.{field}": msgs for field, msgs in error.errors.items()}
    )


def iteration_start_from_spec(
    *,
    project: Project,
    user: User,
    spec: dict[str, Any],
    reproduction_of: Iteration | None = None,
) -> Iteration:
    """Validate a training spec and queue an iteration that trains exactly what it describes.

    Errors name the spec field at fault, for example ``spec.dataset_sha256``.
    """
    if not isinstance(spec, dict):
        raise InvalidInput("The spec must be a JSON object.", field="spec")
    errors = _shape_errors(spec)
    if errors:
        raise InvalidInput("The training spec is invalid.", errors=errors)
    dataset = _spec_dataset(project, spec)

    with transaction.atomic():
        try:
            iteration = iteration_start(
                project=project,
                user=user,
                dataset_id=dataset.pk,
                recipe=spec["recipe"],
                params=spec.get("params", {}),
                seed=spec.get("seed", 0),
                test_size=spec.get("test_size", 0.2),
                feature_columns=spec.get("feature_columns"),
                reproduction_of=reproduction_of,
            )
        except InvalidInput as error:
            raise _prefixed(error) from error
        audit_record(
            actor=user,
            action="iteration.started_from_spec",
            target=iteration,
            project=iteration.project,
            after={"number": iteration.number, "spec": spec},
        )
    logger.info("iteration %s of project %s started from a spec", iteration.number, project.slug)
    return iteration


def iteration_reproduce(*, iteration: Iteration, user: User) -> Iteration:
    """Queue a rerun of a succeeded iteration's spec and return the rerun.

    When the rerun finishes, the original's ``reproduction`` records whether its metrics
    came out the same.
    """
    if iteration.status != IterationStatus.SUCCEEDED:
        raise Conflict(
            f"Iteration {iteration.number} is {iteration.get_status_display().lower()}; only a "
            "succeeded iteration can be reproduced."
        )
    spec_check_trained(iteration)
    with transaction.atomic():
        rerun = iteration_start_from_spec(
            project=iteration.project,
            user=user,
            spec=iteration_spec(iteration),
            reproduction_of=iteration,
        )
        audit_record(
            actor=user,
            action="iteration.reproduction_requested",
            target=iteration,
            project=iteration.project,
            after={"rerun": rerun.number},
        )
    logger.info(
        "iteration %s of project %s queued as a rerun of iteration %s",
        rerun.number,
        iteration.project.slug,
        iteration.number,
    )
    return rerun
