from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.exceptions import DomainError
from prescriptions.services import formulary


class Command(BaseCommand):
    help = (
        "Create or update formulary drugs from a CSV file (all rows or none). Without a file, "
        "loads the shipped formulary and interaction table."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", type=Path)

    def handle(self, *args: Any, file: Path | None = None, **options: Any) -> None:
        try:
            if file is None:
                counts = formulary.formulary_load_seed()
            else:
                with file.open(encoding="utf-8") as stream:
                    counts = formulary.formulary_import(stream=stream)
        except (DomainError, OSError, UnicodeDecodeError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(", ".join(f"{key}: {value}" for key, value in counts.items()))
