"""Training's REST routes: datasets and vehicles (training runs join the same router)."""

from rest_framework.routers import DefaultRouter

from training.views import DatasetViewSet, VehicleViewSet

router = DefaultRouter(trailing_slash=True)
router.register("datasets", DatasetViewSet, basename="dataset")
router.register("vehicles", VehicleViewSet, basename="vehicle")

urlpatterns = router.urls
