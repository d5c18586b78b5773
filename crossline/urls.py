"""crossline's URLs: the admin, the REST API (one router) with its docs, and the health check."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from rest_framework.routers import DefaultRouter

from crossline import api
from crossline.views import (
    ApiDocsView,
    ApiRedocView,
    ApiSchemaView,
    TokenView,
    favicon,
    healthz,
)
from mlmodels import urls as mlmodels_urls
from monitoring import urls as monitoring_urls
from plant import urls as plant_urls
from predictions import urls as predictions_urls
from training import urls as training_urls

# One router, so that the browsable root `/api/` lists every resource.
router = DefaultRouter(trailing_slash=True)
for prefix, viewset, basename in [
    *plant_urls.routes,
    *training_urls.routes,
    *mlmodels_urls.routes,
    *predictions_urls.routes,
    *monitoring_urls.routes,
]:
    router.register(prefix, viewset, basename=basename)

urlpatterns = [
    # The admin is crossline's home page (its login page for a visitor not logged in).
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    path("favicon.ico", favicon, name="favicon"),
    *plant_urls.admin_redirects,
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api-auth/", include("rest_framework.urls")),
    path("api/auth/token/", TokenView.as_view(), name="auth-token"),
    path("api/schema/", ApiSchemaView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", ApiRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/", include(mlmodels_urls.urlpatterns)),
    path("api/", include(predictions_urls.urlpatterns)),
    path("api/", include(router.urls)),
    # Anything else under /api/ is a JSON 404, whatever DEBUG says.
    re_path(r"^api/", api.api_not_found),
]

handler404 = api.handler404
handler500 = api.handler500
