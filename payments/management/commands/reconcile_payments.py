"""Reconcile a day's provider statements with the payment ledger."""

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from payments.models import Provider
from payments.services.reconciliation import reconcile_day


class Command(BaseCommand):
    help = "Download each provider's statement for a day and compare it with the ledger."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", help="YYYY-MM-DD (default: yesterday, Asia/Shanghai)")
        parser.add_argument("--provider", choices=Provider.values, action="append")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            day = (
                datetime.date.fromisoformat(options["date"])
                if options["date"]
                else timezone.localdate() - datetime.timedelta(days=1)
            )
        except ValueError as error:
            raise CommandError(f"--date: {error}") from error
        reports = reconcile_day(bill_date=day, providers=options["provider"])
        failed = False
        for report in reports:
            self.stdout.write(
                f"{report.provider} {report.bill_date}: {report.status}; "
                f"provider {report.provider_lines} lines, ledger {report.ledger_lines}, "
                f"matched {report.matched}, missing_locally {report.missing_locally}, "
                f"missing_at_provider {report.missing_at_provider}, "
                f"amount_mismatch {report.amount_mismatch}"
                + (f"; error: {report.error}" if report.error else "")
            )
            for row in report.discrepancies.all():
                self.stdout.write(
                    f"  {row.kind} {row.line_kind} {row.out_refund_no or row.out_trade_no}: "
                    f"provider {row.provider_amount_fen} ledger {row.ledger_amount_fen}"
                )
            failed = failed or report.status == "failed"
        if failed:
            raise CommandError("a statement could not be downloaded")
