"""Admin of which version predicts and of the activation history: read-only, never deleted."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from crossline.domain import kind_label
from mlmodels.models import Activation, ActiveModel, ModelVersion
from plant.admin_fail_groups import fail_group_labels_for


class ReadOnlyAdmin(admin.ModelAdmin):
    """Registry records change only through mlmodels.services, never by hand; the pointers and
    the activation history are never deleted (no delete button, no bulk delete)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class KindFilter(admin.SimpleListFilter):
    title = "predicts"
    parameter_name = "type_model"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = fail_group_labels_for(request)
        kinds = ModelVersion.objects.order_by().values_list("type_model", flat=True).distinct()
        return sorted(((kind, kind_label(kind, names)) for kind in set(kinds)), key=_kind_order)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(type_model=self.value()) if self.value() else queryset


def _kind_order(item: tuple[str, str]) -> tuple[bool, str]:
    return item[0] != "fail", item[1]


@admin.register(ActiveModel)
class ActiveModelAdmin(ReadOnlyAdmin):
    """Which version predicts for each kind: kind → version, when, by whom."""

    list_select_related = ["version", "activated_by"]

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        # The names are read once for the page and kept in this request's column.
        names = fail_group_labels_for(request)

        @admin.display(description="predicts")
        def predicts(pointer: ActiveModel) -> str:
            return kind_label(pointer.type_model, names)

        return [
            predicts, "version", "override", "generation", "activated_at",
            "activated_by",
        ]


@admin.register(Activation)
class ActivationAdmin(ReadOnlyAdmin):
    """History of activations, newest first."""

    list_filter = [KindFilter]
    list_select_related = ["version", "previous_version", "activated_by"]

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        names = fail_group_labels_for(request)

        @admin.display(description="predicts", ordering="type_model")
        def predicts(activation: Activation) -> str:
            return kind_label(activation.type_model, names)

        return [
            "activated_at", predicts, "sequence", "version", "previous_version", "override",
            "activated_by", "reason",
        ]


