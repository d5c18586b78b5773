import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from plant.models import Dataset

pytestmark = pytest.mark.django_db

BIG = b"KNR,NAME\n" + b"2024-0000001,012001\n" * 80_000  # about 1.6 MB


def test_an_api_upload_over_the_limit_is_refused_before_it_is_read(staff_api, settings):
    settings.CROSSLINE_MAX_UPLOAD_BYTES = 100_000
    response = staff_api.post(
        "/api/datasets/",
        {"kind": "results", "file": SimpleUploadedFile("big.csv", BIG * 2)},
        format="multipart",
    )
    assert response.status_code == 413
    assert "over the limit of 100,000 bytes" in response.json()["detail"]
    assert Dataset.objects.count() == 0


def test_an_admin_upload_over_the_limit_shows_an_error(admin_user_client, settings):
    settings.CROSSLINE_MAX_UPLOAD_BYTES = 100_000
    response = admin_user_client.post(
        "/admin/plant/dataset/add/",
        {"kind": "results", "file": SimpleUploadedFile("big.csv", BIG * 2)},
        follow=True,
    )
    assert "over the limit of 100,000 bytes" in response.content.decode()
    assert Dataset.objects.count() == 0
