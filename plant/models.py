"""The plant's data: imported exports, vehicles and their records, and the fail groups.

Datasets, vehicles and records keep the tables they had under the training app
(`db_table`): an installation migrated from it keeps its data in place.
"""

import json
from typing import Any

from django.conf import settings
from django.db import models

from crossline.domain import parse_framed_codes
from plant.readers.records import decode_columns


class DatasetKind(models.TextChoices):
    RESULTS = "results", "Test results"
    DEFECTS = "defects", "Defects"


class Dataset(models.Model):
    """One uploaded plant export; its accepted rows are kept, normalised, as a Parquet file."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        IMPORTING = "importing", "Importing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=10, choices=DatasetKind.choices)
    original_name = models.CharField(max_length=255)
    size_bytes = models.BigIntegerField()
    # Unique: the same file uploaded twice is refused, even by two uploads racing each other.
    sha256 = models.CharField(max_length=64, unique=True)
    # The accepted rows' fingerprint, whatever their order or compression: the same data
    # sent again in another file is refused too.
    content_sha256 = models.CharField(max_length=64, blank=True, default="", db_index=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.IMPORTING)
    progress = models.PositiveSmallIntegerField(default=0)
    rows_read = models.BigIntegerField(default=0)
    rows_accepted = models.BigIntegerField(default=0)
    rows_rejected = models.BigIntegerField(default=0)
    rows_dropped = models.BigIntegerField(default=0)
    values_unparseable = models.BigIntegerField(default=0)
    knr_count = models.PositiveIntegerField(default=0)
    first_at = models.DateTimeField(null=True, blank=True)
    last_at = models.DateTimeField(null=True, blank=True)
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    file = models.CharField(max_length=255, blank=True, help_text="Parquet file in storage.")
    source_file = models.CharField(
        max_length=255, blank=True, help_text="The upload in storage, until a worker imports it."
    )
    task_id = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # What became of the vehicles a results import brought: predicted as they arrived (the app
    # that predicts writes it back through `plant.services.record_dataset_predictions`).
    predictions = models.CharField(
        max_length=255, blank=True, default="",
        help_text="“1,250 vehicles predicted”, or why not (“no active model”).",
    )
    predicted_count = models.PositiveIntegerField(
        null=True, blank=True, help_text="Vehicles of this import predicted as they arrived."
    )

    class Meta:
        db_table = "training_dataset"
        ordering = ["-uploaded_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.original_name}"


class Vehicle(models.Model):
    """One KNR's summary, recomputed from its records by every import."""

    knr = models.CharField("KNR", max_length=12, unique=True)
    first_test_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_test_at = models.DateTimeField(null=True, blank=True)
    test_count = models.PositiveIntegerField(default=0)
    nok_count = models.PositiveIntegerField(default=0)
    defect_count = models.PositiveIntegerField(default=0)
    has_defects = models.BooleanField(default=False, db_index=True)
    # Codes framed by commas (",2,9830946,") so that one fail group is a portable `contains`.
    fail_group_codes = models.CharField(max_length=255, blank=True, default="")
    dataset_ids = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "training_vehicle"
        ordering = ["knr"]

    def __str__(self) -> str:
        return self.knr

    @property
    def fail_groups(self) -> list[int]:
        return parse_framed_codes(self.fail_group_codes)


class VehicleRecord(models.Model):
    """A KNR's rows from one dataset (one record per KNR and import chunk), for its page."""

    knr = models.CharField("KNR", max_length=12, db_index=True)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="records")
    kind = models.CharField(max_length=10, choices=DatasetKind.choices)
    first_at = models.DateTimeField(null=True)
    last_at = models.DateTimeField(null=True)
    row_count = models.PositiveIntegerField()
    nok_count = models.PositiveIntegerField(default=0)
    fail_group_codes = models.CharField(max_length=255, blank=True, default="")
    columns = models.JSONField(default=list)
    # The rows as one JSON object of columns ({"NAME": [...], ..., "DATA": [...]}, DATA in
    # milliseconds: `plant.readers.records`), kept as text: written column-wise by the import
    # and decoded once per read, far cheaper than a JSON field's per-value encoding.
    rows_json = models.TextField(default="{}")

    class Meta:
        db_table = "training_vehiclerecord"

    def __str__(self) -> str:
        return f"{self.knr} ({self.kind}, {self.row_count} rows)"

    @property
    def rows(self) -> list[list[Any]]:
        """The rows, each a list of values in `columns` order."""
        values = decode_columns(self.rows_json)
        count = len(next(iter(values.values()), []))
        return [list(row) for row in
                zip(*(values.get(name) or [None] * count for name in self.columns), strict=True)]

    @rows.setter
    def rows(self, value: list[list[Any]]) -> None:
        self.rows_json = json.dumps(
            {name: [row[i] for row in value] for i, name in enumerate(self.columns)}
        )


class FailGroup(models.Model):
    """A fail group (S_GROUP_ID) as the quality team names it, with its indicated tests: the
    inspections to run on a vehicle predicted to fail in it."""

    code = models.IntegerField(unique=True, help_text="S_GROUP_ID in the defect exports.")
    name = models.CharField(max_length=100, help_text="The name people see beside the code.")
    inspections = models.JSONField(default=list, help_text="Inspection names, in order.")

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"
