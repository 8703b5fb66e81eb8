"""Issue, rotate and revoke FHIR system clients. The secret is printed once, when issued or
rotated; only its hash is kept.

    manage.py fhir_client create regional-hie "广州市全民健康信息平台" --scope 'system/*.read'
    manage.py fhir_client create insurer "医保局" \
        --scope system/Invoice.read --scope system/ChargeItem.read
    manage.py fhir_client rotate regional-hie
    manage.py fhir_client revoke regional-hie
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.actors import SYSTEM_ACTOR
from core.exceptions import DomainError
from interop.fhir.clients import (
    system_client_create,
    system_client_revoke,
    system_client_rotate_secret,
)
from interop.fhir.resources import REGISTRY


class Command(BaseCommand):
    help = "Issue (create), rotate or revoke a FHIR system client's credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create")
        create.add_argument("client_id")
        create.add_argument("name")
        create.add_argument(
            "--scope", action="append", required=True, help="system/<Type>.read or system/*.read"
        )
        create.add_argument(
            "--full-identifiers",
            action="store_true",
            help="Identity-document numbers reach this client unmasked",
        )
        actions.add_parser("rotate").add_argument("client_id")
        actions.add_parser("revoke").add_argument("client_id")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "create":
                issued = system_client_create(
                    actor=SYSTEM_ACTOR,
                    client_id=options["client_id"],
                    name=options["name"],
                    scopes=options["scope"],
                    known_types=REGISTRY,
                    sees_full_identifiers=options["full_identifiers"],
                )
            elif options["action"] == "rotate":
                issued = system_client_rotate_secret(
                    actor=SYSTEM_ACTOR, client_id=options["client_id"]
                )
            else:
                system_client_revoke(actor=SYSTEM_ACTOR, client_id=options["client_id"])
                self.stdout.write(f"revoked {options['client_id']}")
                return
        except DomainError as error:
            raise CommandError(f"{error.code}: {error.message}") from error
        self.stdout.write(f"client_id={issued.client.client_id}")
        self.stdout.write(f"client_secret={issued.secret}")
        self.stdout.write(f"scopes={' '.join(issued.client.scopes)}")
