"""`manage.py issue_signing_credential USERNAME [--algorithm NAME]`: enrol a doctor or
pharmacist. The PIN is typed twice at the prompt (or one line on stdin with --pin-stdin) and
never appears in the process list or shell history."""

import getpass
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from core.actors import SYSTEM_ACTOR
from core.exceptions import DomainError
from signing.algorithms import ALGORITHM_NAMES
from signing.services import credential_issue


class Command(BaseCommand):
    help = "Issue a signing credential (key pair + certificate) to a doctor or pharmacist."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--algorithm", choices=ALGORITHM_NAMES)
        parser.add_argument("--pin-stdin", action="store_true", help="read the PIN from stdin")

    def _pin(self, from_stdin: bool) -> str:
        if from_stdin:
            return sys.stdin.readline().strip()
        pin = getpass.getpass("Signing PIN (6-12 digits): ")
        if getpass.getpass("Again: ") != pin:
            raise CommandError("The PINs differ.")
        return pin

    def handle(self, *args: Any, username: str, algorithm: str | None, **options: Any) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        try:
            credential = credential_issue(
                user=user,
                pin=self._pin(options["pin_stdin"]),
                algorithm=algorithm,
                actor=SYSTEM_ACTOR,
            )
        except DomainError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(
            f"Issued {credential.algorithm} credential to {username}: serial "
            f"{credential.certificate_serial}, valid until {credential.not_after:%Y-%m-%d}."
        )
