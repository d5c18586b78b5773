"""What every REST endpoint shares: ObjectId-safe JSON, string primary keys, one error mapping."""

from typing import Any

from bson import ObjectId
from django_mongodb_backend.fields import ObjectIdAutoField
from rest_framework import renderers, serializers
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder as DRFJSONEncoder

from crossline.exceptions import CrosslineError


class JSONEncoder(DRFJSONEncoder):
    """DRF's encoder, plus MongoDB ObjectIds rendered as strings."""

    def default(self, obj: Any) -> Any:
        if isinstance(obj, ObjectId):
            return str(obj)
        return super().default(obj)


class JSONRenderer(renderers.JSONRenderer):
    encoder_class = JSONEncoder


class ModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer that renders ObjectId primary keys as strings (DRF maps them to int)."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        ObjectIdAutoField: serializers.CharField,
    }


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """Map crossline's errors to their HTTP status with a `detail` message; DRF handles the rest."""
    # Imported here: rest_framework.views reads the renderer setting, which names this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, CrosslineError):
        return Response({"detail": str(exc)}, status=exc.status_code)
    return drf_exception_handler(exc, context)
