"""Hooks the registry's pages call and the apps above fill from their `AppConfig.ready()`."""

from crossline.hooks import Hook

# () → model name → realised metrics ({"recall", "precision", "pr_auc", "n", …}) from feedback.
realised_metrics_by_version = Hook("realised_metrics_by_version", default=lambda: {})
