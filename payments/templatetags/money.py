"""Amounts on pages: integer fen shown as yuan (`{{ order.total_fen|yuan }}` → ¥53.50)."""

from django import template

from payments.providers.money import fen_to_yuan

register = template.Library()


@register.filter
def yuan(fen: int | None) -> str:
    return "" if fen is None else f"¥{fen_to_yuan(int(fen))}"
