"""Signals plant sends; apps above it receive them (plant never imports them)."""

from django.dispatch import Signal

# Sent after a defects export is imported, with `dataset` and `knrs` (the vehicles it touched).
defects_imported = Signal()
# Sent after a results export is imported, with `dataset` and `knrs` (the vehicles whose rows
# it brought); sent robustly: a receiver's failure never fails the import.
results_imported = Signal()
