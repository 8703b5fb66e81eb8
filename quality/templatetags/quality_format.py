"""How the quality pages print figures: a dash where there is nothing to stand on."""

from django import template

register = template.Library()

NOTHING = "—"


@register.filter
def percent(value: float | None) -> str:
    return NOTHING if value is None else f"{value * 100:.1f}%"


@register.filter
def minutes(seconds: float | None) -> str:
    return NOTHING if seconds is None else f"{seconds / 60:.1f}"


@register.filter
def score(value: float | None) -> str:
    return NOTHING if value is None else f"{value:.2f}"


@register.filter
def hours(value: float | None) -> str:
    return NOTHING if value is None else f"{value:.1f}"
