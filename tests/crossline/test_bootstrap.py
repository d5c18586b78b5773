from io import StringIO

import pytest
from django.core.management import call_command
from django_q.models import Schedule


@pytest.mark.django_db
def test_bootstrap_creates_the_admin_once_and_schedules_the_reaper(
    django_user_model, monkeypatch
):
    monkeypatch.setenv("CROSSLINE_ADMIN_PASSWORD", "a-long-admin-password")
    # An installation of an earlier version closed the feedback window every day.
    Schedule.objects.create(
        name="close feedback window", func="predictions.tasks.close_feedback_window",
        schedule_type=Schedule.DAILY,
    )
    out = StringIO()
    call_command("bootstrap", stdout=out)
    call_command("bootstrap", stdout=out)
    admin = django_user_model.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("a-long-admin-password")
    assert "password: a-long-admin-password" in out.getvalue()
    assert "exists" in out.getvalue()
    # The labelling window is read when metrics are counted: no task closes it.
    assert not Schedule.objects.filter(name="close feedback window").exists()
    reaper = Schedule.objects.get(name="reap stale work")
    assert reaper.func == "training.tasks.reap_stale_work"
    assert (reaper.schedule_type, reaper.minutes, reaper.repeats) == (Schedule.MINUTES, 1, -1)
    # Each copy of a period gets its run time, so that only one of them reaps.
    assert reaper.intended_date_kwarg == "intended"
    assert Schedule.objects.count() == 1


@pytest.mark.django_db
def test_bootstrap_trains_on_the_demo_and_names_each_kind_in_the_teams_words(
    monkeypatch, settings, tmp_path
):
    from plant.models import FailGroup

    settings.VAR_DIR = tmp_path  # the demo's files go there
    monkeypatch.setenv("CROSSLINE_ADMIN_PASSWORD", "a-long-admin-password")
    FailGroup.objects.filter(code=2).update(name="Centre console")
    out = StringIO()

    call_command("bootstrap", demo_knrs=300, stdout=out)

    lines = out.getvalue().splitlines()
    assert any(line.split()[:3] == ["fail-v1", "Any", "defect"] for line in lines), lines
    assert any(line.split()[:4] == ["group_2-v1", "2", "Centre", "console"] for line in lines)
    assert "Predicted 300 vehicles" in out.getvalue()
    # The demo's list is a team's: a fifth of each production day, not what the policies flag.
    assert "Inspection capacity: 20% of each production day's vehicles" in out.getvalue()
    flagged = int(out.getvalue().split("Predicted 300 vehicles: ")[1].split()[0])
    assert 0 < flagged <= 0.2 * 300


@pytest.mark.django_db
def test_bootstrap_keeps_a_capacity_the_team_set(monkeypatch, settings, tmp_path):
    from predictions.capacity import get_capacity, set_inspection_capacity

    settings.VAR_DIR = tmp_path
    monkeypatch.setenv("CROSSLINE_ADMIN_PASSWORD", "a-long-admin-password")
    set_inspection_capacity(vehicles_per_day=3)
    out = StringIO()

    call_command("bootstrap", demo_knrs=300, stdout=out)

    assert "Inspection capacity" not in out.getvalue()
    assert get_capacity().vehicles_per_day == 3 and get_capacity().share is None
