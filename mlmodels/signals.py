"""Signals the registry sends; apps above it receive them (mlmodels never imports them)."""

from django.dispatch import Signal

# Sent after a version became the active one of its kind, with `activation` (the history row:
# version, previous_version, activated_by, reason, override). Sent robustly: a receiver's
# failure never undoes or fails the activation.
model_version_activated = Signal()
