"""crossline's admin site: the dashboard on the index and the apps in the team's order."""

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, JsonResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse

from crossline import dashboard

# Where the work happens first; the rest (users, tokens, the task queue) follow by name.
APP_ORDER = ("plant", "training", "mlmodels", "predictions")


class CrosslineAdminSite(admin.AdminSite):
    """Django's admin with a dashboard above the app list."""

    site_header = "crossline"
    site_title = "crossline"
    index_title = "Dashboard"
    # The app list is the dashboard's, a click away; beside a list's filters, the sidebar left
    # a 1,400 px screen too narrow for a list's last columns (the activations' reasons).
    enable_nav_sidebar = False

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict]:
        apps = super().get_app_list(request, app_label)
        rank = {label: index for index, label in enumerate(APP_ORDER)}
        return sorted(apps, key=lambda app: (rank.get(app["app_label"], len(rank)), app["name"]))

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None):
        context = {"dashboard": dashboard.collect(request), **(extra_context or {})}
        return super().index(request, context)


class CrosslineAdminConfig(AdminConfig):
    """django.contrib.admin with crossline's site as `admin.site`."""

    default_site = "crossline.admin_site.CrosslineAdminSite"



class ProgressAdminMixin:
    """A `<id>/progress/` JSON endpoint and a live progress cell for long work."""

    def progress_state(self, obj: Any) -> dict[str, Any]:
        """status, status_label, progress (0–100), step_text, done; and the log if any."""
        raise NotImplementedError

    def get_urls(self) -> list:
        custom = [
            path(
                "<path:object_id>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name=f"{self.opts.app_label}_{self.opts.model_name}_progress",
            ),
            path(
                "<path:object_id>/download/",
                self.admin_site.admin_view(self.download_view),
                name=f"{self.opts.app_label}_{self.opts.model_name}_download",
            ),
            *self.extra_urls(),
        ]
        # Before the defaults: their `<path:object_id>/` catch-all would take them otherwise.
        return custom + super().get_urls()

    def extra_urls(self) -> list:
        """The admin's own further URLs (downloads, buttons)."""
        return []

    def progress_view(self, request: HttpRequest, object_id: str) -> JsonResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return JsonResponse({"error": "not found"}, status=404)
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        return JsonResponse(self.progress_state(obj))

    def download(self, obj: Any) -> tuple[str, str, str] | None:
        """The stored file offered for download: (storage name, file name, content type)."""
        return None

    def download_view(self, request: HttpRequest, object_id: str) -> FileResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"No such {self.opts.verbose_name}.")
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        offered = self.download(obj)
        if offered is None:
            raise Http404(f"{obj} has nothing to download ({obj.status}).")
        name, filename, content_type = offered
        return FileResponse(
            default_storage.open(name, "rb"),
            as_attachment=True,
            filename=filename,
            content_type=content_type,
        )

    def download_url(self, obj: Any) -> str:
        """The download link, or "" while there is nothing to download."""
        if self.download(obj) is None:
            return ""
        name = f"admin:{self.opts.app_label}_{self.opts.model_name}_download"
        return reverse(name, args=[obj.pk])

    def form_page(
        self,
        request: HttpRequest,
        template: str,
        title: str,
        form: Any,
        extra_context: dict[str, Any] | None = None,
    ) -> TemplateResponse:
        """An admin page of one form (an upload, a batch), with the admin's own context."""
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "has_view_permission": self.has_view_permission(request),
            **(extra_context or {}),
        }
        return TemplateResponse(request, template, context)

    def progress_url(self, obj: Any) -> str:
        name = f"admin:{self.opts.app_label}_{self.opts.model_name}_progress"
        return reverse(name, args=[obj.pk])

    @admin.display(description="progress")
    def progress_cell(self, obj: Any) -> str:
        return render_to_string(
            "admin/crossline/progress_cell.html",
            {"state": self.progress_state(obj), "url": self.progress_url(obj)},
        )
