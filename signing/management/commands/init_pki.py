"""`manage.py init_pki [--force-new] [--algorithm NAME ...]`: create the platform CA roots."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from signing.algorithms import ALGORITHM_NAMES
from signing.pki import pki_init


class Command(BaseCommand):
    help = (
        "Create one self-signed platform CA per signature algorithm (idempotent). --force-new "
        "rotates: a new CA issues from now on, the old ones stay trusted for verification."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--force-new", action="store_true")
        parser.add_argument(
            "--algorithm", action="append", choices=ALGORITHM_NAMES, dest="algorithms"
        )

    def handle(self, *args: Any, force_new: bool, algorithms: list[str] | None, **kw: Any) -> None:
        for result in pki_init(
            algorithms=tuple(algorithms or ALGORITHM_NAMES), force_new=force_new
        ):
            authority = result.authority
            state = "created" if result.created else "present"
            self.stdout.write(
                f"{authority.algorithm}: {state}, serial {authority.serial}, "
                f"valid until {authority.not_after:%Y-%m-%d}"
            )
