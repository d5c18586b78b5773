"""crossline's URLs: the admin, the REST API with its schema, and the health check."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from crossline.views import healthz

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api-auth/", include("rest_framework.urls")),
    path("api/", include("training.urls")),
    path("api/", include("mlmodels.urls")),
    path("api/", include("predictions.urls")),
]

admin.site.site_header = "crossline"
admin.site.site_title = "crossline"
admin.site.index_title = "End-of-line failure prediction"
