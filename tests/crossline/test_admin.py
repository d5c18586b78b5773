import pytest


@pytest.mark.django_db
def test_admin_log_in_works_with_a_password(client, django_user_model):
    django_user_model.objects.create_superuser("admin", "admin@example.com", "a-long-password-1")
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": "admin", "password": "a-long-password-1", "next": "/admin/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_admin_refuses_a_wrong_password(client, django_user_model):
    django_user_model.objects.create_superuser("admin", "admin@example.com", "a-long-password-1")
    response = client.post("/admin/login/", {"username": "admin", "password": "wrong"})
    assert response.status_code == 200
    assert client.get("/admin/").status_code == 302


@pytest.mark.django_db
def test_api_schema_is_served(admin_user_client):
    response = admin_user_client.get("/api/schema/")
    assert response.status_code == 200
    assert b"openapi" in response.content
