"""Signals training sends; apps above it receive them (training never imports them)."""

from django.dispatch import Signal

# The signals below are sent robustly (`send_robust`): a receiver's failure never fails a run.
# Sent once a training run has succeeded, with `run`, after the `model_version_registered` of
# each version it registered.
training_run_succeeded = Signal()
# Sent once a training run has failed (in a step, or silent and failed by the reaper), with `run`.
training_run_failed = Signal()
# Sent for each version a succeeded run registered, with `version`, `run` and `comparison` (its
# kind's entry of the run's comparison with the active versions).
model_version_registered = Signal()
# Sent by each pass of the reaper (`training.tasks.reap_stale_work`): a receiver reaps the stale
# work of its own app and returns a short account of it ("2 inline batches failed").
reaping_stale_work = Signal()
