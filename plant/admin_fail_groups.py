"""What every app's admin shows of fail groups: the names, read once per request, and a filter.

Admin objects are shared by every thread of the server: the names a page needs are kept on
its request, never on the admin.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from crossline.domain import fail_group_label
from plant.selectors import get_fail_group_labels

_REQUEST_ATTRIBUTE = "crossline_fail_group_labels"
# A fail group's code in a URL: ASCII digits ('²'.isdigit() holds, yet int('²') fails).
_CODE = re.compile(r"-?[0-9]{1,18}")


def fail_group_labels_for(request: HttpRequest) -> dict[int, str]:
    """Code → the name people see, read once per request (one query a page)."""
    labels = getattr(request, _REQUEST_ATTRIBUTE, None)
    if labels is None:
        labels = get_fail_group_labels()
        setattr(request, _REQUEST_ATTRIBUTE, labels)
    return labels


class FailGroupFilter(admin.SimpleListFilter):
    """Rows of one fail group; a subclass says which rows by `filter_group`."""

    title = "fail group"
    parameter_name = "fail_group"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        labels = fail_group_labels_for(request)
        return [(str(code), fail_group_label(code, labels)) for code in labels]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value or not _CODE.fullmatch(value):
            return queryset
        return self.filter_group(queryset, int(value))

    def filter_group(self, queryset: QuerySet, code: int) -> QuerySet:
        """The rows of `queryset` in fail group `code`."""
        raise NotImplementedError
