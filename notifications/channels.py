"""The channels behind one interface: `send(notification, message) -> provider message id`.

A channel raises `core.tasks.RetryableError` (or a connection/timeout error) for a transient
failure and `PermanentDeliveryError` for a refusal. Each passes the notification's public id as
the provider's idempotency key, so a send repeated after a crash is not delivered twice (SMS
OutId, WeChat client_msg_id; in-app: a unique row per notification). E-mail has no such key at
the SMTP level: the Message-ID is fixed so receiving systems can drop a repeat.
"""

import smtplib
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMessage

from core.tasks import RetryableError
from notifications.models import InAppMessage, Notification, NotificationChannel
from notifications.providers import PermanentDeliveryError
from notifications.providers.sms import sms_provider
from notifications.providers.wechat import send_template_message
from notifications.rendering import RenderedMessage


class Channel(Protocol):
    def send(self, notification: Notification, message: RenderedMessage) -> str: ...


def template_code(event: str) -> str:
    return f"TH_{event.upper()}"


class SmsChannel:
    def send(self, notification: Notification, message: RenderedMessage) -> str:
        patient, user = notification.recipient_patient, notification.recipient_user
        phone = (patient.phone if patient else "") or (user.phone if user else "")
        if not phone:
            raise PermanentDeliveryError("The recipient has no phone number.")
        return sms_provider().send(
            phone=phone,
            template_code=f"{template_code(notification.event)}_{notification.language.upper()}",
            params={"text": message.sms},
            out_id=str(notification.public_id),
        )


class EmailChannel:
    def send(self, notification: Notification, message: RenderedMessage) -> str:
        user = notification.recipient_user
        if user is None or not user.email:
            raise PermanentDeliveryError("The recipient has no e-mail address.")
        message_id = f"<{notification.public_id}@{settings.NOTIFICATION_EMAIL_DOMAIN}>"
        email = EmailMessage(
            subject=message.title,
            body=message.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[user.email],
            headers={"Message-ID": message_id},
        )
        try:
            email.send()
        except smtplib.SMTPRecipientsRefused as error:
            raise PermanentDeliveryError(f"Recipient refused: {error}") from error
        except (smtplib.SMTPException, OSError) as error:
            raise RetryableError(f"SMTP: {error}") from error
        return message_id


class WeChatChannel:
    def send(self, notification: Notification, message: RenderedMessage) -> str:
        user = notification.recipient_user
        if user is None:
            raise PermanentDeliveryError("WeChat needs a user account.")
        return send_template_message(
            openid=str(user.public_id),
            template_id=template_code(notification.event),
            data={"first": {"value": message.title}, "remark": {"value": message.body}},
            client_msg_id=str(notification.public_id),
        )


class InAppChannel:
    def send(self, notification: Notification, message: RenderedMessage) -> str:
        if notification.recipient_user_id is None:
            raise PermanentDeliveryError("In-app messages need a user account.")
        inbox_row, _ = InAppMessage.objects.get_or_create(
            notification=notification,
            defaults={
                "user_id": notification.recipient_user_id,
                "event": notification.event,
                "title": message.title[:200],
                "body": message.body,
            },
        )
        return str(inbox_row.public_id)


CHANNELS: dict[str, Channel] = {
    NotificationChannel.SMS: SmsChannel(),
    NotificationChannel.EMAIL: EmailChannel(),
    NotificationChannel.WECHAT: WeChatChannel(),
    NotificationChannel.IN_APP: InAppChannel(),
}
