"""Log-in throttling: failed attempts counted per user name and address in the cache."""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest


def client_address(request: HttpRequest | None) -> str:
    """The address a request came from (the proxy's, unless Django is told to trust one)."""
    if request is None:
        return "-"
    return request.META.get("REMOTE_ADDR") or "-"


def _key(username: str, address: str) -> str:
    digest = hashlib.sha256(f"{username.casefold()}\0{address}".encode()).hexdigest()
    return f"crossline:login-failures:{digest}"


def login_failures(username: str, request: HttpRequest | None) -> int:
    """Failed log-ins for this user name from this address within the lockout period."""
    return cache.get(_key(username, client_address(request)), 0)


def is_locked_out(username: str, request: HttpRequest | None) -> bool:
    return login_failures(username, request) >= settings.CROSSLINE_LOGIN_MAX_FAILURES


def record_login_failure(username: str, request: HttpRequest | None) -> None:
    """Count one more failure; the count expires a lockout period after the last one."""
    key = _key(username, client_address(request))
    cache.set(key, cache.get(key, 0) + 1, settings.CROSSLINE_LOGIN_LOCKOUT_SECONDS)


def clear_login_failures(username: str, request: HttpRequest | None) -> None:
    cache.delete(_key(username, client_address(request)))


def lockout_message() -> str:
    minutes = max(1, round(settings.CROSSLINE_LOGIN_LOCKOUT_SECONDS / 60))
    return (
        f"Too many failed log-in attempts for this user from your address: log-in is refused "
        f"for {minutes} minutes after the last failed attempt."
    )


class ThrottledModelBackend(ModelBackend):
    """Django's user/password check, refused while the user name is locked out here."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None,
        **kwargs: Any,
    ):
        name = username if username is not None else kwargs.get("username", "")
        if name and is_locked_out(name, request):
            # PermissionDenied stops authenticate() at once: the right password is refused too.
            raise PermissionDenied(lockout_message())
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if name:
            if user is None:
                record_login_failure(name, request)
            else:
                clear_login_failures(name, request)
        return user


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin's log-in form, saying so when the user name is locked out."""

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        if username and is_locked_out(username, self.request):
            raise ValidationError(lockout_message(), code="locked_out")
        return super().clean()
