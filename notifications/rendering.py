"""Render an event's templates in a language: title and body (in-app, e-mail, WeChat) and the
SMS text. Templates are plain text (no HTML escaping)."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.template import Context, Engine
from django.utils import translation

from notifications.events import EVENTS

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
_engine = Engine(dirs=[str(TEMPLATE_DIR)], autoescape=False)


@dataclass(frozen=True)
class RenderedMessage:
    title: str
    body: str
    sms: str


def render(*, event: str, language: str, context: dict[str, Any]) -> RenderedMessage:
    full_name, sms_name = EVENTS[event].template_names(language)
    with translation.override(language):
        full = _engine.get_template(full_name).render(Context(context)).strip()
        sms = _engine.get_template(sms_name).render(Context(context))
    title, _, body = full.partition("\n")
    return RenderedMessage(title=title.strip(), body=body.strip(), sms=" ".join(sms.split()))
