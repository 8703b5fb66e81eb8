"""`manage.py load_icd10 [path] [--deactivate-missing]`: bring the ICD-10 table up to a CSV."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from terminology.services import ICD10_CSV, Icd10DataError, icd10_load, icd10_read_csv


class Command(BaseCommand):
    help = (
        "Insert and update ICD-10 codes from a CSV (code, chapter, is_chronic, name_zh, name_en); "
        "the default is the table shipped in terminology/data/icd10.csv. Codes are never deleted; "
        "--deactivate-missing marks codes absent from the file inactive. Safe to re-run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", type=Path, default=ICD10_CSV)
        parser.add_argument("--deactivate-missing", action="store_true")

    def handle(self, *args: Any, path: Path, deactivate_missing: bool, **options: Any) -> None:
        try:
            rows = icd10_read_csv(path)
        except (OSError, Icd10DataError) as error:
            raise CommandError(f"{path}: {error}") from error
        result = icd10_load(rows=rows, deactivate_missing=deactivate_missing)
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(rows)} codes in {path.name}: {result.created} created, "
                f"{result.updated} updated, {result.deactivated} deactivated."
            )
        )
