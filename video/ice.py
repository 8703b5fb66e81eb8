"""The ICE servers a participant's browser uses to find a path to the other side.

`VIDEO_ICE_SERVERS` lists RTCIceServer entries (STUN and TURN). With
`VIDEO_TURN_SHARED_SECRET` set, TURN entries that carry no username get time-limited
credentials in coturn's REST-API form (`use-auth-secret`): username `<expiry>:<participant>`,
credential base64(HMAC-SHA1(secret, username)), so no long-lived TURN password reaches a browser.
"""

import base64
import copy
import datetime
import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.utils import timezone


def _is_turn(entry: dict[str, Any]) -> bool:
    return any(url.startswith(("turn:", "turns:")) for url in entry["urls"])


def turn_credential(*, secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def ice_servers_for(
    *, participant_key: str, now: datetime.datetime | None = None
) -> list[dict[str, Any]]:
    """The configured ICE servers, with TURN credentials minted for `participant_key`."""
    servers: list[dict[str, Any]] = copy.deepcopy(settings.VIDEO_ICE_SERVERS)
    for entry in servers:  # RTCIceServer takes one URL or a list; always hand out a list
        if isinstance(entry.get("urls"), str):
            entry["urls"] = [entry["urls"]]
    secret = settings.VIDEO_TURN_SHARED_SECRET
    if not secret:
        return servers
    now = now or timezone.now()
    expires = int(now.timestamp()) + settings.VIDEO_TURN_CREDENTIAL_SECONDS
    username = f"{expires}:{participant_key}"
    for entry in servers:
        if _is_turn(entry) and "username" not in entry:
            entry["username"] = username
            entry["credential"] = turn_credential(secret=secret, username=username)
    return servers
