"""`manage.py seed_demo`: load the demo data set; safe to re-run, it only adds what is missing."""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.demo import data
from core.demo.builder import seed_demo

DEFAULT_FACILITIES = 200
FULL_NETWORK = 9062
MAX_FACILITIES = 99_999  # codes are FAC + five digits
DEFAULT_PATIENTS = 500


class Command(BaseCommand):
    help = (
        "Load demo data: the hub hospital and departments, doctors, pharmacists, facilities of "
        "every type across Guangdong with a terminal and a staff member each, patients with "
        f"valid ID numbers, an operations user. `--facilities {FULL_NETWORK}` builds the full "
        "network. Idempotent and deterministic for a given --seed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--facilities", type=int, default=DEFAULT_FACILITIES)
        parser.add_argument("--patients", type=int, default=DEFAULT_PATIENTS)
        parser.add_argument("--seed", type=int, default=data.DEFAULT_SEED)

    def handle(self, *args: Any, facilities: int, patients: int, seed: int, **options: Any) -> None:
        if not 1 <= facilities <= MAX_FACILITIES:
            raise CommandError(f"--facilities must be between 1 and {MAX_FACILITIES}.")
        if patients < 0:
            raise CommandError("--patients cannot be negative.")
        started = time.monotonic()
        self.stdout.write(f"Seeding demo data: {facilities} facilities, {patients} patients.")
        counts = seed_demo(
            facilities=facilities, patients=patients, seed=seed, progress=self.stdout.write
        )
        self.stdout.write(self.style.SUCCESS(f"Done in {time.monotonic() - started:.1f} s."))
        self.stdout.write(f"{'table':<24}{'added':>8}{'total':>8}")
        for count in counts:
            self.stdout.write(f"{count.label:<24}{count.created:>8}{count.total:>8}")
        self._print_logins(facilities)

    def _print_logins(self, facilities: int) -> None:
        recent = [
            f"doctor{index:02d}"
            for index in range(
                data.DOCTOR_COUNT - data.RECENTLY_LICENSED_DOCTORS + 1, data.DOCTOR_COUNT + 1
            )
        ]
        lines = [
            "",
            f"Demo logins (every user's password: {data.DEMO_PASSWORD})",
            f"  operations (Django admin)  {data.OPERATIONS_USERNAME}",
            f"  doctor                     doctor01 .. doctor{data.DOCTOR_COUNT:02d}"
            f"  ({', '.join(recent)}: under 3 years of practice, cannot be scheduled)",
            f"  pharmacist                 pharmacist01 .. pharmacist{data.PHARMACIST_COUNT:02d}",
            f"  clinic staff               staff00001 .. staff{facilities:05d}"
            "  (staff00001 works at FAC00001)",
            "  terminal                   Authorization: Terminal "
            f"T00001:{data.DEMO_TERMINAL_SECRET}",
            "",
            "Admin:    http://127.0.0.1:8000/admin/",
            "API docs: http://127.0.0.1:8000/api/docs/",
        ]
        self.stdout.write("\n".join(lines))
