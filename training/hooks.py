"""Hooks training's pages call and the apps above fill from their `AppConfig.ready()`."""

from crossline.hooks import Hook

# KNR → one line (safe HTML) about its latest prediction, or None when it has none.
latest_prediction_summary = Hook("latest_prediction_summary", default=lambda knr: None)
