"""Admin list filters every app uses the same way: by fail group (named as the team names it)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from crossline.domain import fail_group_label, fail_group_labels


class FailGroupFilter(admin.SimpleListFilter):
    """Rows of one fail group; a subclass says which rows by `filter_group`."""

    title = "fail group"
    parameter_name = "fail_group"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        labels = fail_group_labels()
        return [(str(code), fail_group_label(code, labels)) for code in labels]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value or not value.lstrip("-").isdigit():
            return queryset
        return self.filter_group(queryset, int(value))

    def filter_group(self, queryset: QuerySet, code: int) -> QuerySet:
        """The rows of `queryset` in fail group `code`."""
        raise NotImplementedError
