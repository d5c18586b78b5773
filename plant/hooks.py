"""Hooks plant's pages call and the apps above fill from their `AppConfig.ready()`."""

from crossline.hooks import Hook

# KNR → its latest prediction for the vehicle page (url, p_fail, flagged, created_at, groups,
# indicated_tests, risk, reasons: why it is on the worklist), or None when it has none.
latest_prediction = Hook("latest_prediction", default=lambda knr: None)
