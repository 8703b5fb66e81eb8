"""Generate the payment key files that are missing under PAYMENT_KEYS_DIR (idempotent)."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from payments.providers.keys import ensure_payment_keys


class Command(BaseCommand):
    help = (
        "Create the merchant's WeChat Pay and Alipay keys, the APIv3 key and the emulated "
        "providers' keys under PAYMENT_KEYS_DIR; existing files are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dir", type=Path, default=None, help="another directory than PAYMENT_KEYS_DIR"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directory = Path(options["dir"] or settings.PAYMENT_KEYS_DIR)
        created = ensure_payment_keys(directory)
        for path in created:
            self.stdout.write(f"created {path}")
        self.stdout.write(
            self.style.SUCCESS(
                f"payment keys in {directory}: {len(created)} created"
                if created
                else f"payment keys in {directory}: all present"
            )
        )
