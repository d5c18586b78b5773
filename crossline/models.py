"""crossline's own records: which period of a scheduled job some worker cluster took on."""

from django.db import models


class ScheduleClaim(models.Model):
    """The latest period of one scheduled job that a worker cluster took on.

    Every cluster runs django-q2's scheduler, and on MongoDB its row lock is no lock: two
    clusters may queue the same period of a schedule. The task that raises `period` first (a
    compare-and-set) runs it; the others see it taken and stop.
    """

    name = models.CharField(max_length=100, unique=True, help_text="The schedule's name.")
    period = models.DateTimeField(help_text="The run time of the latest period taken on.")
    claimed_at = models.DateTimeField()
    claimed_by = models.CharField(max_length=200, help_text="Host and process that took it.")

    class Meta:
        verbose_name = "schedule claim"

    def __str__(self) -> str:
        return f"{self.name} @ {self.period:%Y-%m-%d %H:%M:%S}"
