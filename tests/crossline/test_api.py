import json

from bson import ObjectId
from django.db import models
from django.test.utils import isolate_apps
from django_mongodb_backend.fields import ObjectIdAutoField
from rest_framework import serializers

from crossline.api import JSONRenderer, ModelSerializer


def test_object_ids_render_as_strings():
    oid = ObjectId()
    assert json.loads(JSONRenderer().render({"id": oid})) == {"id": str(oid)}


@isolate_apps("crossline")
def test_object_id_primary_keys_map_to_a_string_field():
    class Document(models.Model):
        id = ObjectIdAutoField(primary_key=True)

        class Meta:
            app_label = "crossline"

        def __str__(self) -> str:
            return str(self.pk)

    class DocumentSerializer(ModelSerializer):
        class Meta:
            model = Document
            fields = ["id"]

    oid = ObjectId()
    field = DocumentSerializer().fields["id"]

    assert isinstance(field, serializers.CharField) and field.read_only
    assert DocumentSerializer(Document(id=oid)).data == {"id": str(oid)}
