from collections.abc import Mapping

from apps.core.errors import TransitionNotAllowed


def transition_check(
    *, table: Mapping[str, frozenset[str]], kind: str, current: str, new: str
) -> None:
    """Raise TransitionNotAllowed unless ``table`` allows ``current`` -> ``new``."""
    if new not in table.get(current, frozenset()):
        raise TransitionNotAllowed(f"This {kind} is {current}, so it cannot become {new}.")
