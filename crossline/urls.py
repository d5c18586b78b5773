"""crossline's URLs: the admin, the REST API with its schema, and the health check."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from crossline.views import favicon, healthz

urlpatterns = [
    # The admin is crossline's home page (its login page for a visitor not logged in).
    path("", RedirectView.as_view(pattern_name="admin:index"), name="home"),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api-auth/", include("rest_framework.urls")),
    path("api/", include("training.urls")),
    path("api/", include("mlmodels.urls")),
    path("api/", include("predictions.urls")),
]
