"""Template filters: numbers rounded for people."""

from typing import Any

from django import template

from crossline import numbers

register = template.Library()


@register.filter
def significant(value: Any) -> str:
    """Three significant digits."""
    return numbers.significant(value)


@register.filter
def percent(value: Any) -> str:
    """A share as a percentage."""
    return numbers.percent(value)
