"""Typed REST shapes: every field a client reads or sends has a type in the OpenAPI schema, so
that a client generated from `/api/schema/` (openapi-python-client) works as generated.

- A JSON document a model stores (a run's comparison, an import's report) is shown through a
  `DocumentSerializer` that declares its keys: a component of the schema. A bare `JSONField` or
  `SerializerMethodField` is a value of no type (`Any` in a generated client).
- A map keyed by data (fail group → probability, kind → model name) is a
  `serializers.DictField(child=…)`: `additionalProperties` of the child's type.
- A request body has one content type: JSON (the default parser); multipart only for file
  uploads (`parser_classes = UPLOAD_PARSERS`).
- Strings sent in a body: DRF's `CharField` refuses NUL characters and trims whitespace before
  checking that a required string is not blank; `describe_request_strings` puts those rules in
  the schema, so that what the schema allows is what the view accepts.
"""

from collections.abc import Mapping
from typing import Any, ClassVar

from rest_framework import parsers, serializers

UPLOAD_PARSERS = [parsers.MultiPartParser]

# DRF's CharField: no NUL anywhere; a required string holds something besides whitespace.
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = r"^[^\x00]*[^\s\x00][^\x00]*$"


class DocumentSerializer(serializers.Serializer):
    # The declared shape of a JSON document a model stores, for output. Documents written by
    # earlier releases may lack keys added since: `missing` gives what such a key reads as.
    # With allow_null, a document not written yet (`{}`: a run still queued) reads as null.
    # No docstring on purpose: the schema would show it for every document without one.

    missing: ClassVar[dict[str, Any]] = {}

    def get_attribute(self, instance: Any) -> Any:
        value = super().get_attribute(instance)
        return None if self.allow_null and value == {} else value

    def to_representation(self, instance: Any) -> dict[str, Any]:
        if self.missing and isinstance(instance, Mapping):
            instance = {**self.missing, **instance}
        return super().to_representation(instance)


def describe_strings(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """Free strings of request components and query parameters get the pattern a `CharField`
    holds them to; a body that is one of several shapes (`oneOf`) is required, as each of its
    shapes is. (After `crossline.api.describe_parameters`, which sets query minLengths.)"""
    components = result.get("components", {}).get("schemas", {})
    for name, component in components.items():
        if name.endswith("Request"):
            for prop in component.get("properties", {}).values():
                _describe_string(prop.get("items", prop) if prop.get("type") == "array" else prop)
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query":
                    _describe_string(parameter.get("schema", {}))
            body = operation.get("requestBody", {})
            for media in body.get("content", {}).values():
                ref = media.get("schema", {}).get("$ref", "")
                if "oneOf" in components.get(ref.rsplit("/", 1)[-1], {}):
                    body["required"] = True
    return result


def _describe_string(schema: dict) -> None:
    if schema.get("type") == "string" and not {"format", "enum", "pattern"} & set(schema):
        schema["pattern"] = NOT_BLANK if schema.get("minLength", 0) >= 1 else NO_NUL
