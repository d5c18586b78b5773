from rest_framework.routers import DefaultRouter

from predictions.views import BatchPredictionViewSet, PredictionViewSet

router = DefaultRouter(trailing_slash=True)
router.register("predictions/batches", BatchPredictionViewSet, basename="batch-prediction")
router.register("predictions", PredictionViewSet, basename="prediction")

urlpatterns = router.urls
