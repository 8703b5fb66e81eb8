"""Notification reads, scoped to the actor: a user's own inbox; dead rows for operations."""

from django.db.models import QuerySet

from accounts.models import Role
from core.actors import Actor
from core.exceptions import NotFoundError
from notifications.models import InAppMessage, Notification, NotificationStatus


def in_app_messages_visible_to(*, actor: Actor) -> QuerySet[InAppMessage]:
    if actor.user is None:
        return InAppMessage.objects.none()
    return InAppMessage.objects.filter(user=actor.user).order_by("-created_at", "-pk")


def in_app_message_get_for_actor(*, actor: Actor, public_id: str) -> InAppMessage:
    message = in_app_messages_visible_to(actor=actor).filter(public_id=public_id).first()
    if message is None:
        raise NotFoundError("Notification not found.")
    return message


def in_app_unread_count(*, actor: Actor) -> int:
    return in_app_messages_visible_to(actor=actor).filter(read_at__isnull=True).count()


def dead_notifications_visible_to(*, actor: Actor) -> QuerySet[Notification]:
    if not actor.has_role(Role.OPERATIONS):
        return Notification.objects.none()
    return Notification.objects.filter(status=NotificationStatus.DEAD).order_by("-dead_at", "-pk")
