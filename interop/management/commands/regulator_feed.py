"""Run the regulator feed by hand: collect finished records, build today's batches, send every
batch that is due (the nightly task and the sweep do this on their own).

    manage.py regulator_feed            # collect, batch, send what is due
    manage.py regulator_feed --collect-only
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from interop.regulator import services


class Command(BaseCommand):
    help = "Collect, batch and send the regulator feed now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--collect-only", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        collected = services.regulator_reports_collect()
        self.stdout.write(f"collected {collected}")
        if options["collect_only"]:
            return
        built = services.regulator_batches_build()
        self.stdout.write(f"batches built {len(built)}")
        for batch_id in sorted(set(built) | set(services.regulator_batches_due())):
            outcome = services.regulator_batch_send(batch_id=batch_id)
            self.stdout.write(
                f"batch {batch_id}: {outcome.status} (acknowledged {outcome.acknowledged}, "
                f"rejected {outcome.rejected}, unanswered {outcome.unanswered})"
            )
