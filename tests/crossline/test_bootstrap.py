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
