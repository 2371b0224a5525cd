"""Errors that services raise and that the API and the pages turn into 4xx responses."""

from collections.abc import Mapping, Sequence


class PortalError(Exception):
    """A request the portal cannot carry out, with a message meant for the user."""

    status_code = 400
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        field_errors = {key: list(value) for key, value in (errors or {}).items()}
        if field is not None:
            field_errors.setdefault(field, []).append(message)
        self.errors = field_errors


class InvalidInput(PortalError):
    status_code = 400
    code = "invalid"


class TransitionNotAllowed(PortalError):
    """A state change that the object's transition table does not allow from its state."""

    status_code = 409
    code = "conflict"


class Conflict(PortalError):
    status_code = 409
    code = "conflict"


class NotAllowed(PortalError):
    """An action that the user's role or separation of duties forbids."""

    status_code = 403
    code = "forbidden"


class Unprocessable(PortalError):
    status_code = 422
    code = "unprocessable"


class PayloadTooLarge(PortalError):
    status_code = 413
    code = "too_large"
