"""Every search and read on PostgreSQL, over rows written the way the pharmacy tests write them
(the prescribing service's row lock is SQLite-only for now, so the full scene runs on SQLite)."""

from typing import Any

import pytest

from accounts.models import Role
from core.actors import actor_for_user
from interop.fhir.resources import REGISTRY
from pharmacy.services.pickup import pickup_dispense
from tests.factories import api_client, make_terminal, make_user
from tests.fhir.scene import record_vitals
from tests.pharmacy.builders import make_pickup

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_every_type_searches_and_reads_on_postgresql(tmp_path: Any, settings: Any) -> None:
    settings.MEDIA_ROOT = tmp_path
    scene = make_pickup()
    terminal = make_terminal(scene.facility).terminal
    visit = scene.visit
    visit.consultation.status = "in_progress"
    visit.consultation.save(update_fields=["status"])
    record_vitals(visit, terminal)
    pickup_dispense(actor=actor_for_user(scene.staff), code=scene.fulfilment.pickup_code)
    ops = api_client(make_user(role=Role.OPERATIONS))

    found = {}
    for name in REGISTRY:
        body = ops.get(
            f"/fhir/{name}?_count=5&_lastUpdated=ge2020-01-01"
            if REGISTRY[name].supports_last_updated
            else f"/fhir/{name}?_count=5"
        )
        assert body.status_code == 200, (name, body.content)
        entries = body.json()["entry"]
        found[name] = len(entries)
        for entry in entries[:1]:
            read = ops.get(f"/fhir/{name}/{entry['resource']['id']}")
            assert read.status_code == 200, (name, read.content)
    patient = scene.visit.patient.public_id
    assert ops.get(f"/fhir/AuditEvent?patient={patient}").status_code == 200

    # Written directly: the prescription carries no signatures and the order no lines.
    assert {name for name, count in found.items() if count == 0} == {"Provenance", "ChargeItem"}
