"""The REST API as a whole: one router, token auth, one error format, strict query parameters,
and a schema that describes what the routes really answer."""

import json

import pytest
from bson import ObjectId
from django.db import models
from django.test import RequestFactory
from django.test.utils import isolate_apps
from django_mongodb_backend.fields import ObjectIdAutoField
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from crossline.api import JSONRenderer, ModelSerializer, exception_handler, handler404, handler500

ERROR_KEYS = {"detail", "code", "errors"}


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


# --- one router ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_root_lists_every_resource(plain_api):
    response = plain_api.get("/api/")
    assert response.status_code == 200
    assert {
        "datasets", "vehicles", "training-runs", "pipelines", "models", "predictions",
        "predictions/batches",
    } <= set(response.json())


# --- authentication -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/", "/api/predictions/", "/api/models/",
                                  "/api/models/compare/?ids=1,2"])
def test_no_credentials_is_a_401_that_names_the_token_scheme(path):
    response = APIClient().get(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert set(response.json()) == ERROR_KEYS
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.django_db
def test_a_wrong_token_is_a_401(plain_user):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = api.get("/api/predictions/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["code"] == "authentication_failed"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/", "/api/redoc/"])
def test_the_schema_and_its_docs_need_no_user(path):
    # A client generator pointed at the schema gets it; the routes it describes keep theirs.
    response = APIClient().get(path)
    assert response.status_code == 200, response.content[:300]


@pytest.mark.django_db
def test_health_needs_no_user():
    assert APIClient().get("/healthz").status_code == 200


@pytest.mark.django_db
def test_a_user_gets_a_token_and_uses_it(plain_user):
    response = APIClient().post(
        "/api/auth/token/",
        {"username": "line-viewer", "password": "a-long-test-password"},
        format="json",
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert Token.objects.get(user=plain_user).key == token

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/predictions/").status_code == 200


@pytest.mark.django_db
def test_a_wrong_password_gets_no_token(plain_user):
    response = APIClient().post(
        "/api/auth/token/", {"username": "line-viewer", "password": "wrong"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == ERROR_KEYS
    assert not Token.objects.exists()


@pytest.mark.django_db
def test_the_token_route_is_throttled_after_ten_attempts(plain_user):
    from django.core.cache import cache

    cache.clear()
    client = APIClient()
    statuses = [
        client.post(
            "/api/auth/token/", {"username": "line-viewer", "password": f"guess-{n}"},
            format="json",
        ).status_code
        for n in range(11)
    ]
    right = client.post(
        "/api/auth/token/",
        {"username": "line-viewer", "password": "a-long-test-password"},
        format="json",
    )
    cache.clear()
    assert statuses == [400] * 10 + [429]
    assert right.status_code == 429, "the right password must not get through while throttled"
    assert int(right["Retry-After"]) > 0
    assert right.json()["code"] == "throttled"


@pytest.mark.django_db
def test_wrong_tokens_are_throttled_per_client_whatever_it_forwards(plain_user):
    from django.core.cache import cache

    cache.clear()
    token = Token.objects.create(user=plain_user).key
    guesser = APIClient()
    statuses = []
    for n in range(11):
        forwarded = f"10.0.0.{n}"
        guesser.credentials(HTTP_AUTHORIZATION=f"Token guess{n}", HTTP_X_FORWARDED_FOR=forwarded)
        statuses.append(guesser.get("/api/predictions/").status_code)
    guesser.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    right = guesser.get("/api/predictions/")
    elsewhere = APIClient(REMOTE_ADDR="127.0.0.2")
    elsewhere.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    other_client = elsewhere.get("/api/predictions/")
    cache.clear()
    assert statuses == [401] * 10 + [429]
    assert right.status_code == 429, "the right token waits too: it may be the 11th guess"
    assert right.json()["code"] == "throttled" and int(right["Retry-After"]) > 0
    assert other_client.status_code == 200


@pytest.mark.django_db
def test_admin_actions_issue_and_revoke_tokens(admin_user_client, plain_user):
    url = "/admin/auth/user/"
    issued = admin_user_client.post(
        url, {"action": "issue_api_tokens", "_selected_action": [str(plain_user.pk)]},
        follow=True,
    )
    first = Token.objects.get(user=plain_user).key
    assert first in issued.content.decode()

    admin_user_client.post(
        url, {"action": "issue_api_tokens", "_selected_action": [str(plain_user.pk)]}
    )
    second = Token.objects.get(user=plain_user).key
    assert second != first, "issuing again replaces the old token"

    admin_user_client.post(
        url, {"action": "revoke_api_tokens", "_selected_action": [str(plain_user.pk)]}
    )
    assert not Token.objects.filter(user=plain_user).exists()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {second}")
    assert api.get("/api/predictions/").status_code == 401


# --- one error format ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "status", "names"),
    [
        ("/api/predictions/fail-codes-by-month/?year=99999&fail_code=1", 400, "year"),
        ("/api/predictions/fail-codes-by-month/?year=0", 400, "year"),
        ("/api/predictions/fail-codes-by-month/?year=-5", 400, "year"),
        ("/api/predictions/fail-codes-by-month/?year=9999", 400, "year"),
        ("/api/predictions/fail-codes-by-month/?year=2024&year=2025", 400, "year"),
        ("/api/predictions/fail-codes-by-month/?year=2024&fail_code=", 400, "fail_code"),
        ("/api/predictions/fail-codes-by-month/", 400, "year"),
        ("/api/predictions/?month=0000-01", 400, "month"),
        ("/api/predictions/?month=2024-13", 400, "month"),
        ("/api/predictions/?month=٢٠٢٤-06", 400, "month"),
        ("/api/monitoring/drift/?kind=fail&month=٢٠٢٤-06", 400, "month"),
        ("/api/monitoring/performance/?kind=group_٣", 400, "kind"),
        ("/api/predictions/?positive=maybe", 400, "positive"),
        ("/api/predictions/?fail_code=1.5", 400, "fail_code"),
        ("/api/predictions/?ordering=p_fial", 400, "ordering"),
        ("/api/vehicles/?has_defects=-3.8e-306", 400, "has_defects"),
        ("/api/datasets/?kind=", 400, "kind"),
        ("/api/datasets/?kind=photos", 400, "kind"),
        ("/api/training-runs/?kind=", 400, "kind"),
        ("/api/predictions/?page=1&page=2", 400, "page"),
        ("/api/predictions/?page=0", 400, "page"),
        ("/api/predictions/?page=x", 400, "page"),
        ("/api/predictions/?page=²", 400, "page"),
        ("/api/models/activations/?page=²", 400, "page"),
        ("/api/models/activations/?page=٣", 400, "page"),
        ("/api/predictions/?page=1" + "0" * 5000, 400, "page"),
        ("/api/predictions/?fail_code=٣", 400, "fail_code"),
        ("/api/predictions/?fail_code=" + "9" * 30, 400, "fail_code"),
        ("/api/vehicles/?fail_group=²", 400, "fail_group"),
        ("/api/predictions/total-fails/?year=٢٠٢٤", 400, "year"),
        ("/api/predictions/total-fails/?year=2024&month=³", 400, "month"),
        ("/api/predictions/fail-codes-by-month/?year=2024&fail_code=٣", 400, "fail_code"),
        ("/api/models/compare/?ids=٣,1", 400, "ids"),
        ("/api/models/activations/?type_model=", 400, "type_model"),
        ("/api/models/activations/?type_model=photos", 400, "type_model"),
    ],
)
def test_a_bad_query_parameter_is_a_400_naming_it(plain_api, path, status, names):
    response = plain_api.get(path)
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["code"] == "invalid"
    assert list(body["errors"]) == [names]
    assert names in body["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/vehicles/abc/", "/api/predictions/24-1/",
                                  "/api/predictions/abc/history/"])
def test_a_malformed_knr_in_a_url_is_a_400_saying_the_form(plain_api, path):
    response = plain_api.get(path)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert "YYYY-NNNNNNN" in body["detail"]
    assert body["errors"] == {"KNR": [body["detail"]]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/api/vehicles/2099-9999999/", "No vehicle for KNR 2099-9999999."),
        ("/api/predictions/2099-9999999/", "No prediction for KNR 2099-9999999."),
        ("/api/predictions/2099-9999999/history/", "No prediction for KNR 2099-9999999."),
    ],
)
def test_an_unknown_knr_is_a_404_with_one_text(plain_api, path, detail):
    response = plain_api.get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": detail, "code": "not_found", "errors": {}}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/nope/", "/api/predictions/2024-0000001/nope/",
                                  "/api/models/1/set-active/nope"])
def test_an_unknown_route_under_api_is_a_json_404(plain_api, path):
    response = plain_api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_an_unknown_route_under_api_is_json_even_with_debug_on(plain_api, settings):
    settings.DEBUG = True
    response = plain_api.get("/api/vehicles/2024-0000001/tests/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.django_db
def test_an_unknown_route_elsewhere_keeps_djangos_page(admin_user_client):
    response = admin_user_client.get("/nope/")
    assert response.status_code == 404
    assert "application/json" not in response["Content-Type"]


def test_the_404_and_500_handlers_answer_json_under_api_only():
    factory = RequestFactory()
    api_404 = handler404(factory.get("/api/x/"), None)
    api_500 = handler500(factory.get("/api/x/"))
    page_500 = handler500(factory.get("/admin/x/"))
    assert (api_404.status_code, json.loads(api_404.content)["code"]) == (404, "not_found")
    assert (api_500.status_code, json.loads(api_500.content)["code"]) == (500, "server_error")
    assert page_500.status_code == 500 and b"Traceback" not in page_500.content
    assert "application/json" not in page_500["Content-Type"]


def test_an_unexpected_error_in_a_view_is_a_json_500_without_a_traceback(caplog):
    request = RequestFactory().get("/api/predictions/")
    response = exception_handler(RuntimeError("secret internals"), {"request": request})
    assert response.status_code == 500
    assert response.data == {"detail": "Internal server error.", "code": "server_error",
                             "errors": {}}
    assert "secret internals" in caplog.text, "the error is logged for the operator"


def test_validation_errors_are_flattened_to_fields():
    from rest_framework.exceptions import ValidationError

    nested = ValidationError({"real_fail_codes": {0: ["A valid integer is required."]},
                              "non_field_errors": ["Send either `file` or `since`."]})
    response = exception_handler(nested, {})
    assert response.data == {
        "detail": "Send either `file` or `since`.",
        "code": "invalid",
        "errors": {"real_fail_codes.0": ["A valid integer is required."]},
    }


@pytest.mark.django_db
def test_an_oversized_upload_is_a_413_and_stores_nothing(staff_api, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from plant.models import Dataset

    settings.CROSSLINE_MAX_UPLOAD_BYTES = 10
    upload = SimpleUploadedFile("results.csv", b"KNR,NAME\n" + b"2024-0000001,x\n" * 200_000)
    response = staff_api.post("/api/datasets/", {"kind": "results", "file": upload},
                              format="multipart")
    assert response.status_code == 413
    assert response.json()["code"] == "upload_too_large"
    assert not Dataset.objects.exists()


# --- the schema -------------------------------------------------------------------------------


@pytest.fixture
def schema(staff_api) -> dict:
    response = staff_api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return json.loads(response.content)


def _resolve(schema: dict, ref: str) -> dict:
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]


def _json_schema(operation: dict, status: str) -> dict:
    return operation["responses"][status]["content"]["application/json"]["schema"]


@pytest.mark.django_db
def test_the_batch_upload_is_a_binary_multipart_file_without_filter_parameters(schema):
    batch = schema["paths"]["/api/predictions/batch/"]["post"]
    body = batch["requestBody"]["content"]
    assert list(body) == ["multipart/form-data"]
    fields = _resolve(schema, body["multipart/form-data"]["schema"]["$ref"])["properties"]
    assert fields["file"] == {"type": "string", "format": "binary"}
    assert not [p for p in batch.get("parameters", []) if p["in"] == "query"]
    for status in ("201", "202"):
        assert _json_schema(batch, status)["$ref"].endswith("/BatchStarted")


@pytest.mark.django_db
def test_uploads_are_typed_as_binary_files(schema):
    upload = schema["paths"]["/api/datasets/"]["post"]["requestBody"]["content"]
    fields = _resolve(schema, upload["multipart/form-data"]["schema"]["$ref"])["properties"]
    assert fields["file"]["format"] == "binary"


@pytest.mark.django_db
def test_nullable_fields_are_documented_as_nullable(schema):
    components = schema["components"]["schemas"]
    assert components["Dataset"]["properties"]["uploaded_by"]["nullable"] is True
    assert components["TrainingRun"]["properties"]["duration_seconds"]["nullable"] is True
    assert components["TrainingRun"]["properties"]["requested_by"]["nullable"] is True


@pytest.mark.django_db
def test_statistics_routes_are_documented_with_their_real_shapes(schema):
    paths = schema["paths"]
    predicted = _json_schema(paths["/api/predictions/fail-codes-predicted/"]["get"], "200")
    assert predicted["type"] == "array"
    assert set(_resolve(schema, predicted["items"]["$ref"])["properties"]) == {
        "fail_code", "zone", "count", "no_model"
    }
    total = _json_schema(paths["/api/predictions/total-fails/"]["get"], "200")
    assert set(_resolve(schema, total["$ref"])["properties"]) == {"no_fails", "fails"}
    by_month = _json_schema(paths["/api/predictions/fail-codes-by-month/"]["get"], "200")
    assert set(_resolve(schema, by_month["$ref"])["properties"]) == {
        "year", "fail_code", "by", "months"
    }
    realised = _json_schema(paths["/api/predictions/realised-metrics/"]["get"], "200")
    assert set(_resolve(schema, realised["$ref"])["properties"]) == {"by_version", "by_month"}
    for path in ("fail-codes-predicted", "total-fails", "fail-codes-by-month"):
        names = {p["name"] for p in paths[f"/api/predictions/{path}/"]["get"].get("parameters", [])}
        assert not names & {"page", "ordering", "search", "positive"}, path


@pytest.mark.django_db
def test_the_history_is_documented_as_the_bare_list_it_is(schema, staff_api):
    history = _json_schema(schema["paths"]["/api/predictions/{KNR}/history/"]["get"], "200")
    assert history["type"] == "array"
    assert history["items"]["$ref"].endswith("/PredictionHistory")


@pytest.mark.django_db
def test_no_internal_docstring_leaks_into_the_schema(schema):
    text = json.dumps(schema)
    for internal in ("ObjectId", "DRF", "ModelSerializer", "selector", "get_vehicle_detail",
                     "Parquet file in storage", "services"):
        assert internal not in text, internal
    assert schema["components"]["schemas"]["Dataset"]["description"] == (
        "An imported plant export with its validation report."
    )


@pytest.mark.django_db
def test_every_operation_documents_its_error_statuses(schema):
    error_ref = "#/components/schemas/Error"
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if path != "/api/auth/token/":
                assert "401" in responses, (method, path)
            if method != "get" and path != "/api/auth/token/":
                assert "403" in responses, (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
            if any(p["in"] == "query" for p in operation.get("parameters", [])):
                assert "400" in responses, (method, path)
            for status in responses:
                if status >= "400":
                    assert _json_schema(operation, status)["$ref"] == error_ref
    assert "429" in schema["paths"]["/api/auth/token/"]["post"]["responses"]
    assert "413" in schema["paths"]["/api/datasets/"]["post"]["responses"]
    assert "409" in schema["paths"]["/api/models/{id}/set-active/"]["post"]["responses"]


@pytest.mark.django_db
def test_the_seed_resources_come_with_examples(schema):
    paths = schema["paths"]
    assert "examples" in paths["/api/predictions/{KNR}/"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]
    assert "examples" in paths["/api/models/{id}/"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]
    assert "examples" in paths["/api/train/"]["post"]["requestBody"]["content"][
        "application/json"
    ]
    run = paths["/api/training-runs/{id}/"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["examples"]
    assert any("comparison" in example["value"] and example["value"]["comparison"]
               for example in run.values())


@pytest.mark.django_db
def test_knr_is_spelled_one_way_in_every_resource(schema):
    components = schema["components"]["schemas"]
    for name in ("Vehicle", "VehicleDetail", "Prediction", "PredictionHistory"):
        assert "KNR" in components[name]["properties"], name
        assert "knr" not in components[name]["properties"], name


@pytest.mark.django_db
def test_an_activation_version_is_a_number_like_a_models(schema):
    components = schema["components"]["schemas"]
    assert components["Activation"]["properties"]["version"]["type"] == "integer"
    assert components["ModelVersion"]["properties"]["version"]["type"] == "integer"
    assert components["Activation"]["properties"]["model_name"]["type"] == "string"


@pytest.mark.django_db
def test_the_docs_are_served_from_local_static_files(staff_api):
    html = staff_api.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "https://" not in html




def test_every_viewset_uses_the_one_permission_class():
    from crossline.api import StaffWritesPermission
    from crossline.urls import router

    for _, viewset, _ in router.registry:
        assert viewset.permission_classes == [StaffWritesPermission], viewset.__name__
    assert not [
        name for _, viewset, _ in router.registry for name in vars(viewset)
        if name == "get_permissions"
    ]


# A request body has one content type; multipart only where a file is uploaded.
UPLOADS = {("post", "/api/datasets/"), ("post", "/api/predictions/batch/")}
# The only values of no fixed type: a pipeline's parameters, JSON of the pipeline's own choosing.
FREE_FORM = {"PipelineDocument.params.*"}


@pytest.mark.django_db
def test_every_request_body_has_one_content_type_json_but_for_uploads(schema):
    bodies = {
        (method, path): list(operation["requestBody"]["content"])
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    }
    assert len(bodies) >= 10
    for route, content in bodies.items():
        expected = ["multipart/form-data"] if route in UPLOADS else ["application/json"]
        assert content == expected, route
    assert set(bodies) >= UPLOADS


def untyped(node: dict, where: str) -> list[str]:
    """Places in a schema node where a value has no type (Any in a generated client)."""
    if "$ref" in node:
        return []
    for key in ("oneOf", "anyOf", "allOf"):
        if key in node:
            return [bad for i, part in enumerate(node[key]) for bad in untyped(part, where)]
    if "type" not in node:
        return [where]
    found = []
    if node["type"] == "array":
        found += untyped(node.get("items", {}), f"{where}[]")
    if node["type"] == "object":
        for name, prop in node.get("properties", {}).items():
            found += untyped(prop, f"{where}.{name}")
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            found += untyped(extra, f"{where}.*")
        elif not node.get("properties"):
            found.append(where)  # an object of anything
    return found


@pytest.mark.django_db
def test_every_field_of_the_schema_has_a_type(schema):
    found = []
    for name, component in schema["components"]["schemas"].items():
        found += untyped(component, name)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                found += untyped(parameter["schema"], f"{method} {path} {parameter['name']}")
            bodies = [*operation.get("requestBody", {}).get("content", {}).values()] + [
                media for response in operation["responses"].values()
                for media in response.get("content", {}).values()
            ]
            for media in bodies:
                found += untyped(media["schema"], f"{method} {path}")
    assert set(found) == FREE_FORM


def test_the_typing_check_finds_an_untyped_field():
    component = {
        "type": "object",
        "properties": {
            "report": {"readOnly": True},
            "scores": {"type": "object", "additionalProperties": {}},
            "codes": {"type": "array", "items": {}},
            "anything": {"type": "object"},
            "ok": {"type": "object", "additionalProperties": {"type": "number"}},
            "either": {"oneOf": [{"type": "string"}, {"$ref": "#/components/schemas/Y"}]},
        },
    }
    assert untyped(component, "X") == ["X.report", "X.scores.*", "X.codes[]", "X.anything"]


@pytest.mark.django_db
def test_nullable_request_fields_say_so(schema):
    components = schema["components"]["schemas"]
    assert components["PredictionRequest"]["properties"]["real_fail_codes"]["nullable"] is True
    assert components["Dataset"]["properties"]["report"]["nullable"] is True
    assert components["TrainingRun"]["properties"]["comparison"]["nullable"] is True


@pytest.mark.django_db
def test_the_threshold_policy_body_is_one_of_its_two_shapes(schema):
    body = schema["paths"]["/api/threshold-policies/{type_model}/"]["put"]["requestBody"]
    assert body["required"] is True
    shapes = _resolve(schema, body["content"]["application/json"]["schema"]["$ref"])["oneOf"]
    f2, share = (_resolve(schema, shape["$ref"]) for shape in shapes)
    assert f2["required"] == ["policy"] and "value" not in f2["properties"]
    assert set(share["required"]) == {"policy", "value"}
    assert share["properties"]["value"]["exclusiveMinimum"] is True
    assert share["properties"]["value"]["maximum"] == 1


@pytest.mark.django_db
def test_any_method_on_an_unknown_route_under_api_is_a_json_404_not_a_csrf_page():
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    for method in ("post", "delete", "put"):
        response = getattr(browser, method)("/api/models/%C2%84/set-active/")
        assert response.status_code == 404, method
        assert response.json()["code"] == "not_found"
