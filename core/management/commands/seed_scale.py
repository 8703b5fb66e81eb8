"""`manage.py seed_scale`: fill a PostgreSQL database with two years of a network at scale."""

import datetime
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.demo import data as demo
from core.scale.runner import (
    GenerationError,
    GenerationStopped,
    Options,
    scale_generate,
    table_counts,
)

FULL_NETWORK = 9062
MAX_FACILITIES = 99_999  # codes are FAC + five digits


def _date(value: str) -> datetime.date:
    return datetime.date.fromisoformat(value)


class Command(BaseCommand):
    help = (
        "Generate a network at scale with two years of history (PostgreSQL only, bulk COPY): "
        "the facilities, doctors and pharmacists of seed_demo at the requested size, patients "
        "with valid resident IDs, and consultations with their notes, signed prescriptions, "
        "payments, fulfilments and notifications. Deterministic for a --seed; an interrupted run "
        "continues where it stopped when run again with the same options."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patients", type=int, default=2_000_000)
        parser.add_argument("--consultations", type=int, default=1_000_000)
        parser.add_argument("--doctors", type=int, default=1000)
        parser.add_argument("--facilities", type=int, default=FULL_NETWORK)
        parser.add_argument("--seed", type=int, default=demo.DEFAULT_SEED)
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Consultations per batch (and commit)"
        )
        parser.add_argument(
            "--workers", type=int, default=2, help="Processes writing batches (default 2)"
        )
        parser.add_argument(
            "--until",
            type=_date,
            default=None,
            help="The history covers the 730 days before this date (default: today, or the "
            "date of the run being continued)",
        )
        parser.add_argument(
            "--stop-after-batches",
            type=int,
            default=None,
            help="Stop after writing this many batches (to exercise resuming)",
        )

    def handle(
        self,
        *args: Any,
        patients: int,
        consultations: int,
        doctors: int,
        facilities: int,
        seed: int,
        batch_size: int,
        workers: int,
        until: datetime.date | None,
        stop_after_batches: int | None,
        **options: Any,
    ) -> None:
        if not 1 <= facilities <= MAX_FACILITIES:
            raise CommandError(f"--facilities must be between 1 and {MAX_FACILITIES}.")
        if doctors < 1 or patients < 0 or consultations < 0:
            raise CommandError(
                "--doctors must be positive; --patients and --consultations not negative."
            )
        if batch_size < 1 or workers < 1:
            raise CommandError("--batch-size and --workers must be positive.")
        started = time.monotonic()
        try:
            outcome = scale_generate(
                Options(
                    patients=patients,
                    consultations=consultations,
                    doctors=doctors,
                    facilities=facilities,
                    seed=seed,
                    batch_size=batch_size,
                ),
                until=until,
                workers=workers,
                stop_after=stop_after_batches,
                progress=self.stdout.write,
            )
        except (GenerationError, GenerationStopped) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Done in {time.monotonic() - started:.1f} s "
                f"({outcome.batches_written} batches written by this run)."
            )
        )
        self.stdout.write(f"{'table':<40}{'rows':>14}")
        for table, count in table_counts().items():
            self.stdout.write(f"{table:<40}{count:>14,}")
