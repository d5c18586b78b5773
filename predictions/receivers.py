"""How predictions answers the lower apps: their signals and hooks, connected in `ready()`."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from predictions import selectors, services


def fill_feedback(sender: Any, *, knrs: list[str], **kwargs: Any) -> None:
    """Defects were imported: their KNRs' predictions get their real fail groups."""
    services.record_feedback(knrs=knrs)


def latest_prediction_summary(knr: str) -> SafeString | None:
    """One line on a vehicle's page: its current prediction, linked, or None if there is none."""
    prediction = selectors.get_latest_prediction(knr)
    if prediction is None:
        return None
    url = reverse("admin:predictions_prediction_change", args=[prediction.pk])
    codes = ", ".join(str(code) for code in prediction.predicted_fail_codes) or "none"
    return format_html(
        '<a href="{}">p(fail) {}</a> on {}; predicted fail groups: {}; indicated tests: {}',
        url,
        "no model" if prediction.p_fail is None else f"{prediction.p_fail:.2f}",
        f"{prediction.created_at:%Y-%m-%d %H:%M}",
        codes,
        ", ".join(prediction.indicated_tests) or "none",
    )
