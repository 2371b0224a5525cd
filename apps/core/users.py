from typing import Any

from django.contrib.auth.models import User
from rest_framework.exceptions import NotAuthenticated


def authenticated_user(request: Any) -> User:
    """Return the signed-in user of an HTTP or API request, narrowed for type checkers."""
    user = request.user
    if not user.is_authenticated:
        raise NotAuthenticated("Sign in or send an API token.")
    assert isinstance(user, User)
    return user
