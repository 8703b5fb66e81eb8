"""Draw a week's clinical quality review sample by hand (beat does it every Monday)."""

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from core.exceptions import DomainError
from quality.services.reviews import previous_week_start, review_sample_week


class Command(BaseCommand):
    help = "Draw and assign the clinical quality review sample of one week (default: last week)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--week", help="The Monday the week starts on (YYYY-MM-DD)")
        parser.add_argument("--seed", help="Seed of the draw (default QUALITY_REVIEW_SAMPLE_SEED)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            week = (
                datetime.date.fromisoformat(options["week"])
                if options["week"]
                else previous_week_start(timezone.localdate())
            )
            sample = review_sample_week(week_start=week, seed=options["seed"])
        except (ValueError, DomainError) as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            f"week {sample.week_start}: {sample.population} items of work, "
            f"{sample.assigned} assigned, {sample.unassigned} without an eligible reviewer "
            f"(seed {sample.seed!r}, default rate {sample.default_rate})"
        )
