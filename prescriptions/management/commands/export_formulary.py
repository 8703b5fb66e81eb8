import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from prescriptions.services import formulary


class Command(BaseCommand):
    help = "Write the formulary as CSV (the import format) to FILE or standard output."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", type=Path)

    def handle(self, *args: Any, file: Path | None = None, **options: Any) -> None:
        if file is None:
            formulary.formulary_export(stream=sys.stdout)
            return
        with file.open("w", encoding="utf-8", newline="") as stream:
            count = formulary.formulary_export(stream=stream)
        self.stderr.write(f"{count} drugs written to {file}")
