"""Scheduled jobs run once per period, however many worker clusters queue them."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crossline.models import ScheduleClaim
from crossline.schedules import claim_period
from training.tasks import REAPER_SCHEDULE, reap_stale_work

pytestmark = pytest.mark.django_db


def test_a_period_is_claimed_once_and_never_after_a_later_one():
    period = timezone.now().replace(microsecond=0)
    assert claim_period("nightly", period) is True
    assert claim_period("nightly", period) is False  # a second cluster's copy
    assert claim_period("nightly", period - timedelta(minutes=1)) is False  # a late copy
    assert claim_period("nightly", period + timedelta(minutes=1)) is True
    assert claim_period("other job", period) is True  # each schedule counts its own
    claim = ScheduleClaim.objects.get(name="nightly")
    assert claim.period == period + timedelta(minutes=1)
    assert claim.claimed_by


def test_a_period_given_as_django_q2_passes_it_is_read_as_the_same_time():
    period = timezone.now().replace(microsecond=0)
    assert claim_period("nightly", period.isoformat()) is True
    assert claim_period("nightly", period) is False


def test_two_copies_of_one_reaper_period_reap_once():
    period = timezone.now().replace(microsecond=0).isoformat()
    first, second = reap_stale_work(intended=period), reap_stale_work(intended=period)
    assert "stale runs failed" in first
    assert second == f"period {period}: reaped by another copy"
    assert ScheduleClaim.objects.get(name=REAPER_SCHEDULE).period.isoformat() == period


def test_the_reaper_at_worker_start_reaps_whatever_the_schedule_claimed():
    reap_stale_work(intended=timezone.now().isoformat())
    assert "stale runs failed" in reap_stale_work()
