from typing import Any

import pyotp
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import TotpDevice
from core.crypto import decrypt_text


class Command(BaseCommand):
    help = (
        "Development only (DEBUG): print the current sign-in code of a user's authenticator, "
        "so the demo doctors, pharmacists and operations users can sign in without a phone app."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("Refused: totp_code exists for development (DEBUG) only.")
        device = TotpDevice.objects.filter(user__username=username).first()
        if device is None:
            raise CommandError(f"{username} has no authenticator yet: sign in once to enrol.")
        self.stdout.write(pyotp.TOTP(decrypt_text(device.secret_encrypted)).now())
