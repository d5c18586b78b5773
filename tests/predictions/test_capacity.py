"""The plant's inspection capacity and labelling window: the service, the admin, the API."""

import pytest
from django.contrib.auth.models import Group, Permission

from crossline.exceptions import InvalidInput
from predictions.capacity import (
    Capacity,
    get_capacity,
    get_label_window_days,
    set_inspection_capacity,
)
from predictions.models import InspectionCapacity

pytestmark = pytest.mark.django_db

PAGE = "/admin/predictions/inspectioncapacity/"


def test_a_capacity_is_a_share_or_vehicles_per_day_or_none():
    assert get_capacity() == Capacity()
    set_inspection_capacity(share=0.2)
    assert get_capacity() == Capacity(share=0.2)
    set_inspection_capacity(vehicles_per_day=150, share=None)
    assert get_capacity() == Capacity(vehicles_per_day=150)
    set_inspection_capacity(share=None, vehicles_per_day=None)
    assert not get_capacity().is_set
    assert InspectionCapacity.objects.count() == 1


@pytest.mark.parametrize(
    ("given", "field", "message"),
    [
        ({"share": 20}, "share", "0.2 means 20%"),
        ({"share": 0}, "share", "above 0"),
        ({"share": "0.2"}, "share", "a number"),
        ({"vehicles_per_day": 0}, "vehicles_per_day", "at least 1"),
        ({"vehicles_per_day": 1.5}, "vehicles_per_day", "whole number"),
        ({"share": 0.2, "vehicles_per_day": 5}, "share", "not both"),
    ],
)
def test_a_bad_capacity_is_refused_naming_the_field(given, field, message):
    set_inspection_capacity(share=0.1)
    with pytest.raises(InvalidInput, match=message) as refused:
        set_inspection_capacity(**given)
    assert refused.value.field == field
    assert get_capacity() == Capacity(share=0.1), "nothing changed"


def test_the_days_a_production_day_may_list():
    assert Capacity(share=0.2).allowed(25) == 5
    assert Capacity(share=0.2).allowed(24) == 4, "never more than the share"
    assert Capacity(share=0.2).allowed(4) == 0
    assert Capacity(vehicles_per_day=150).allowed(400) == 150
    assert Capacity(vehicles_per_day=150).allowed(90) == 90
    assert Capacity().allowed(90) is None


def test_the_window_is_the_setting_until_the_team_sets_one(settings):
    settings.CROSSLINE_LABEL_WINDOW_DAYS = 21
    assert get_label_window_days() == 21
    set_inspection_capacity(label_window_days=0)
    assert get_label_window_days() == 0
    set_inspection_capacity(label_window_days=None)
    assert get_label_window_days() == 21


def test_the_migration_gives_the_quality_lead_group_the_capacity_permission():
    from django.apps import apps

    from predictions.backfills import create_inspection_capacity

    # The group the permissions' migrations made, as if it had existed without this one.
    group = Group.objects.get(name="Quality lead")
    group.permissions.remove(Permission.objects.get(codename="change_inspectioncapacity"))
    InspectionCapacity.objects.all().delete()

    create_inspection_capacity(apps, None)

    assert group.permissions.filter(codename="change_inspectioncapacity").exists()
    assert InspectionCapacity.objects.count() == 1


def test_the_admin_page_takes_the_share_as_a_percentage(admin_user_client):
    page = admin_user_client.get(PAGE, follow=True)
    assert page.status_code == 200
    assert "Share of each production day&#x27;s vehicles (%)" in page.content.decode()
    url = page.redirect_chain[-1][0]
    form = {"share_percent": "20", "vehicles_per_day": "", "label_window_days": "7"}

    saved = admin_user_client.post(url, form)
    assert saved.status_code == 302
    assert get_capacity() == Capacity(share=0.2)
    assert get_label_window_days() == 7
    assert InspectionCapacity.objects.get().updated_by == admin_user_client.user
    # Shown again as it was typed.
    assert 'name="share_percent" value="20"' in admin_user_client.get(url).content.decode()

    saved = admin_user_client.post(url, {**form, "share_percent": "12.5"})
    assert saved.status_code == 302
    assert get_capacity() == Capacity(share=0.125)


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("120", "120% is not a share of the day&#x27;s vehicles"),
        ("0", "0% is not a share"),
        ("-5", "-5% is not a share"),
        ("twenty", "Enter a number."),
    ],
)
def test_the_admin_page_refuses_a_percentage_outside_0_to_100(admin_user_client, typed, says):
    set_inspection_capacity(share=0.1)
    url = f"{PAGE}{InspectionCapacity.objects.get().pk}/change/"

    refused = admin_user_client.post(
        url, {"share_percent": typed, "vehicles_per_day": "", "label_window_days": ""}
    )

    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert list(errors) == ["share_percent"]
    assert says in refused.content.decode()
    assert get_capacity() == Capacity(share=0.1), "nothing changed"


def test_the_admin_page_refuses_a_share_and_a_number_together(admin_user_client):
    url = f"{PAGE}{InspectionCapacity.objects.get().pk}/change/"

    refused = admin_user_client.post(
        url, {"share_percent": "20", "vehicles_per_day": "30", "label_window_days": ""}
    )

    assert refused.status_code == 200
    assert "not both" in refused.context["adminform"].form.errors["share_percent"][0]
    assert get_capacity() == Capacity()


def test_staff_without_the_permission_cannot_change_the_capacity(client, staff_user):
    staff_user.user_permissions.add(Permission.objects.get(codename="view_inspectioncapacity"))
    client.force_login(staff_user)
    record = InspectionCapacity.objects.get()
    url = f"{PAGE}{record.pk}/change/"
    assert client.get(url).status_code == 200
    client.post(url, {"share_percent": "50", "vehicles_per_day": "", "label_window_days": ""})
    assert get_capacity() == Capacity()

    staff_user.user_permissions.add(
        Permission.objects.get(codename="change_inspectioncapacity")
    )
    client.post(url, {"share_percent": "50", "vehicles_per_day": "", "label_window_days": ""})
    assert get_capacity() == Capacity(share=0.5)


def test_a_quality_lead_changes_the_capacity(client, lead_user):
    client.force_login(lead_user)
    url = f"{PAGE}{InspectionCapacity.objects.get().pk}/change/"

    saved = client.post(
        url, {"share_percent": "50", "vehicles_per_day": "", "label_window_days": ""}
    )

    assert saved.status_code == 302
    assert get_capacity() == Capacity(share=0.5)


def test_a_window_beyond_ten_years_is_refused_everywhere(admin_user_client, settings):
    # Far beyond, no date lies that far before today: the window's start could not be computed.
    with pytest.raises(InvalidInput, match="0 to 3650"):
        set_inspection_capacity(label_window_days=10**9)
    page = admin_user_client.get(PAGE, follow=True)
    refused = admin_user_client.post(page.redirect_chain[-1][0], {
        "share_percent": "", "vehicles_per_day": "", "label_window_days": "10000"
    })
    assert refused.status_code == 200 and "0 to 3650" in refused.content.decode()
    assert get_label_window_days() == settings.CROSSLINE_LABEL_WINDOW_DAYS
