import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from prescriptions.verification import verify_document


class Command(BaseCommand):
    help = (
        "Verify an exported signed prescription offline: no database, only the file and the "
        "platform's CA certificates (PEM bundle, published at /verify/ca.pem)."
    )
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", type=Path, help="The export (GET /api/v1/prescriptions/{id}/export/)"
        )
        parser.add_argument("--ca", type=Path, required=True, help="Trusted CA certificates (PEM)")

    def handle(self, *args: Any, file: Path, ca: Path, **options: Any) -> None:
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
            bundle = ca.read_text(encoding="ascii")
        except (OSError, ValueError) as error:
            raise CommandError(f"Cannot read the input: {error}") from error
        marker = "-----END CERTIFICATE-----"
        trusted = [
            part.strip() + "\n" + marker + "\n" for part in bundle.split(marker) if part.strip()
        ]
        report = verify_document(document, trusted_ca_pems=trusted)
        content = report.details.get("content", {})
        prescription = content.get("prescription", {}) if isinstance(content, dict) else {}
        self.stdout.write(
            f"prescription {prescription.get('number')} v{prescription.get('version')}"
        )
        if report.valid:
            self.stdout.write(self.style.SUCCESS("VALID: signatures verify against the trusted CA"))
            return
        for problem in report.problems:
            self.stdout.write(f"problem: {problem}")
        raise CommandError("INVALID")
