import json

from bson import ObjectId
from django_mongodb_backend.fields import ObjectIdAutoField
from rest_framework import serializers

from crossline.api import JSONRenderer, ModelSerializer


def test_object_ids_render_as_strings():
    oid = ObjectId()
    assert json.loads(JSONRenderer().render({"id": oid})) == {"id": str(oid)}


def test_object_id_primary_keys_map_to_a_string_field():
    assert ModelSerializer.serializer_field_mapping[ObjectIdAutoField] is serializers.CharField
