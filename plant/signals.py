"""Signals plant sends; apps above it receive them (plant never imports them)."""

from django.dispatch import Signal

# Sent after a defects export is imported, with `dataset` and `knrs` (the vehicles it touched).
defects_imported = Signal()
