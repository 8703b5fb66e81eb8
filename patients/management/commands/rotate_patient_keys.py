"""Re-encrypt and re-hash every patient document number under the current keys.

Rotation procedure (docs/operations.md): put the new key FIRST in PATIENT_DATA_KEYS and
PATIENT_LOOKUP_KEYS, keep the old ones after it, deploy, run this command, then drop the old keys.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from patients.services import patients_rotate_keys


class Command(BaseCommand):
    help = "Re-encrypt patient document numbers with the current key and re-hash their lookup."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args: Any, **options: Any) -> None:
        rewritten = patients_rotate_keys(batch_size=options["batch_size"])
        self.stdout.write(self.style.SUCCESS(f"Rotated {rewritten} patient records."))
