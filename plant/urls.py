"""Plant's REST routes (registered on crossline's one API router), and its moved admin pages."""

from urllib.parse import quote

from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.urls import re_path, reverse

from plant.views import DatasetViewSet, VehicleViewSet

routes = [
    ("datasets", DatasetViewSet, "dataset"),
    ("vehicles", VehicleViewSet, "vehicle"),
]

# Datasets and vehicles came from the training app, fail groups from predictions' indicated
# tests (same primary keys): their old admin links and bookmarks lead to the pages' new place.
MOVED_ADMIN_PAGES = {
    "training/dataset": "plant/dataset",
    "training/vehicle": "plant/vehicle",
    "predictions/indicatedtest": "plant/failgroup",
}


def moved_admin_page(request: HttpRequest, rest: str, new: str) -> HttpResponsePermanentRedirect:
    """A permanent redirect from an old admin URL to the same page under /admin/plant/."""
    query = request.META.get("QUERY_STRING", "")
    url = f"{reverse('admin:index')}{new}/{quote(rest)}"
    return HttpResponsePermanentRedirect(f"{url}?{query}" if query else url)


admin_redirects = [
    re_path(rf"^admin/{old}/(?P<rest>.*)$", moved_admin_page, {"new": new})
    for old, new in MOVED_ADMIN_PAGES.items()
]
