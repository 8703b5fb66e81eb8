"""The survey link: the invitation's public id signed under SECRET_KEY.

`django.core.signing` with its own salt, so the link cannot be made or altered without the key
and no other signed value of the platform passes for one. The id is written in URL-safe base64
(22 characters) to keep the link short enough for an SMS. It needs no sign-in; it expires with
the invitation (`FeedbackInvitation.expires_at`), which the services check.
"""

import base64
import binascii
import uuid

from django.conf import settings
from django.core import signing
from django.urls import reverse

TOKEN_SALT = "quality.feedback-link"  # noqa: S105 - a namespace, not a secret


def _signer() -> signing.Signer:
    return signing.Signer(salt=TOKEN_SALT)


def feedback_token(invitation_public_id: uuid.UUID) -> str:
    compact = base64.urlsafe_b64encode(invitation_public_id.bytes).rstrip(b"=").decode()
    return _signer().sign(compact)


def read_feedback_token(token: str) -> uuid.UUID | None:
    """The invitation's public id of a genuine token, or None."""
    try:
        compact = _signer().unsign(token.strip())
        return uuid.UUID(bytes=base64.urlsafe_b64decode(compact + "=="))
    except (signing.BadSignature, binascii.Error, ValueError):
        return None


def feedback_url(invitation_public_id: uuid.UUID) -> str:
    path = reverse("quality:feedback", kwargs={"token": feedback_token(invitation_public_id)})
    return f"{settings.SITE_URL}{path}"
