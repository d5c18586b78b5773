"""What a training run leaves for monitoring: its drift reference, stored once for every version
it registered, each version's ranking of the columns, and the production months of its test
scores."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mlmodels import drift
from mlmodels.models import ModelVersion
from mlmodels.references import (
    record_test_months,
    record_version_reference,
    release_unused_reference,
    store_drift_reference,
)
from training.pipeline.outcomes import describe_error

logger = logging.getLogger(__name__)


def record_references(
    run: Any,
    outcome: dict[str, Any],
    versions: dict[str, ModelVersion],
    log: Callable[[str], None],
) -> None:
    """Store the run's drift reference and link each version to it.

    Monitoring must not cost the team its models: a reference that cannot be stored is logged
    on the run, whose versions are registered all the same (and say they have no reference).
    """
    reference = outcome.get("drift_reference")
    builder = outcome.get("feature_builder")
    if reference is None or builder is None or not versions:
        return
    try:
        stored = store_drift_reference(
            reference=reference,
            feature_fingerprint=builder.fingerprint_,
            training_run=run,
        )
        test_set = outcome["result"].get("test_set")
        months = (
            drift.month_labels(test_set.production_time, test_set.knrs).tolist()
            if test_set is not None and len(test_set)
            else None
        )
        linked = 0
        for version in versions.values():
            if record_version_reference(version=version, reference=stored) is None:
                continue
            linked += 1
            if months is not None:
                record_test_months(version=version, months=months)
        if not linked:
            # Every version was discarded meanwhile (the reaper failed the run).
            release_unused_reference(stored.pk)
            return
    except Exception as error:
        logger.exception("Training run %s could not store its drift reference", run.pk)
        log(f"drift reference not stored ({describe_error(error)}): these versions cannot be "
            "checked for drift")
        return
    log(
        f"drift reference of {stored.vehicles:,} vehicles and {stored.columns:,} columns "
        f"stored ({stored.size_bytes / 1024:,.0f} KiB)"
    )
