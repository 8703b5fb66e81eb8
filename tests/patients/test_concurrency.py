"""Two counters registering the same document at the same moment: one wins, one gets 409."""

import threading

import pytest
from django.db import connection

from core.actors import actor_for_user
from core.exceptions import ConflictError
from core.models import AuditEvent
from patients.models import Patient
from patients.services import patient_register
from tests.factories import make_staff, resident_id


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_registration_of_one_document_creates_one_patient():
    number = resident_id(region="440106", birth="19820214", sequence=63)
    counters = [make_staff(), make_staff()]
    barrier = threading.Barrier(len(counters))
    outcomes: list[str] = []

    def register(staff):
        try:
            barrier.wait(timeout=10)
            patient_register(
                actor=actor_for_user(staff),
                name="周丽",
                id_type="resident_id",
                id_number=number,
                phone="13800138000",
            )
            outcomes.append("created")
        except ConflictError as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=register, args=(staff,)) for staff in counters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["created", "patient_exists"]
    assert Patient.objects.count() == 1
    assert AuditEvent.objects.filter(action="create").count() == 1
