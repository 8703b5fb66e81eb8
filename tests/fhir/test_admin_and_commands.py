"""The back office for system clients and the feed, and the feed's command."""

import datetime
import re
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from consultations.services.lifecycle import consultation_complete
from core.actors import SYSTEM_ACTOR, actor_for_user
from interop.fhir.clients import system_client_create
from interop.fhir.resources import REGISTRY
from interop.models import RegulatorBatch, RegulatorReport, SystemClient
from tests.consultations.builders import make_visit
from tests.factories import make_user
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(make_user(username="ops-admin", is_staff=True, is_superuser=True))
    return client


def _finished_yesterday() -> None:
    visit = make_visit("in_progress")
    yesterday = timezone.now() - datetime.timedelta(days=1)
    consultation_complete(
        actor=actor_for_user(visit.doctor), consultation=visit.consultation, now=yesterday
    )


def test_the_command_collects_batches_and_sends(settings: Any) -> None:
    settings.REGULATOR_FEED_URL = f"http://127.0.0.1:{free_port()}/api/batches"
    _finished_yesterday()
    out = StringIO()

    call_command("regulator_feed", stdout=out)

    batch = RegulatorBatch.objects.get()
    assert out.getvalue().splitlines() == [
        "collected 1",
        "batches built 1",
        f"batch {batch.pk}: failed (acknowledged 0, rejected 0, unanswered 1)",
    ]
    assert RegulatorReport.objects.get().status == "batched"


def test_the_admin_lists_clients_batches_and_reports_and_revokes(admin_client: Client) -> None:
    issued = system_client_create(
        actor=SYSTEM_ACTOR,
        client_id="regional-hie",
        name="区域平台",
        scopes=["system/*.read"],
        known_types=REGISTRY,
    )
    _finished_yesterday()
    call_command("regulator_feed", "--collect-only", stdout=StringIO())

    pages = [
        "/admin/interop/systemclient/",
        f"/admin/interop/systemclient/{issued.client.pk}/change/",
        "/admin/interop/regulatorbatch/",
        "/admin/interop/regulatorreport/",
        f"/admin/interop/regulatorreport/{RegulatorReport.objects.get().pk}/change/",
    ]
    statuses = [admin_client.get(page).status_code for page in pages]
    report_page = admin_client.get(pages[-1]).content.decode()
    revoked = admin_client.post(
        "/admin/interop/systemclient/",
        {"action": "revoke", "_selected_action": [issued.client.pk]},
    )

    assert statuses == [200] * 5
    assert "payload_encrypted" not in report_page
    assert re.search(r"gAAAAA", report_page) is None  # no Fernet token shown
    assert revoked.status_code == 302
    assert SystemClient.objects.get().is_active is False
    assert admin_client.get("/admin/interop/systemclient/add/").status_code == 403
