"""Writes crossline itself owns: the users' API tokens."""

from typing import Any

from rest_framework.authtoken.models import Token


def get_or_issue_api_token(*, user: Any) -> Token:
    """The user's API token, issued now if they have none."""
    token, _ = Token.objects.get_or_create(user=user)
    return token


def issue_api_token(*, user: Any) -> Token:
    """A new API token for the user; the old one, if any, stops working at once."""
    revoke_api_token(user=user)
    return Token.objects.create(user=user)


def revoke_api_token(*, user: Any) -> bool:
    """Delete the user's API token; whether they had one."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted > 0
