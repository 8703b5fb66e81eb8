"""Fifty desks book the same slot at the same moment, twenty times over, against PostgreSQL:
each round exactly one 201, every other desk a clean `409 slot_taken`, never a 5xx, and never
two live bookings of one slot in the table."""

import datetime
import threading
import time
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from consultations.models import Consultation, ConsultationEvent
from tests.factories import (
    api_client,
    make_doctor,
    make_facility,
    make_patient,
    make_slot,
    make_staff,
    resident_id,
)

THREADS = 50
ROUNDS = 20
BOOK = "/api/v1/consultations/"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_desks_racing_for_one_slot_make_exactly_one_booking(settings):
    # Each desk books its own patient, so only the slot is contested; the winner of several
    # rounds must not hit the future-booking limit.
    settings.MAX_FUTURE_BOOKINGS_PER_PATIENT = ROUNDS
    facility = make_facility()
    desks = [make_staff(facility=facility) for _ in range(THREADS)]
    patients = [make_patient(desks[0], id_number=resident_id()) for _ in range(THREADS)]
    doctor = make_doctor()
    first = timezone.now().replace(microsecond=0) + datetime.timedelta(days=1)
    slots = [
        make_slot(doctor, starts_at=first + datetime.timedelta(minutes=30 * n))
        for n in range(ROUNDS)
    ]
    clients = [api_client(staff) for staff in desks]
    for client in clients:
        client.raise_request_exception = False  # a server error must show up as a 500 here
    barrier = threading.Barrier(THREADS)
    outcomes: list[list[tuple[int, str]]] = [[] for _ in range(ROUNDS)]
    failures: list[BaseException] = []
    lock = threading.Lock()

    def desk(index: int) -> None:
        try:
            for number, slot in enumerate(slots):
                barrier.wait(timeout=60)
                response = clients[index].post(
                    BOOK,
                    {"patient": str(patients[index].public_id), "slot": str(slot.public_id)},
                    format="json",
                )
                code = response.json().get("code", "") if response.status_code != 201 else ""
                with lock:
                    outcomes[number].append((response.status_code, code))
        except BaseException as error:  # reported below; a dead thread must not hide
            with lock:
                failures.append(error)
            barrier.abort()
        finally:
            connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=desk, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.monotonic() - started

    assert failures == []
    assert not any(thread.is_alive() for thread in threads)
    for number, results in enumerate(outcomes):
        assert Counter(results) == {(201, ""): 1, (409, "slot_taken"): THREADS - 1}, number
    for slot in slots:
        assert Consultation.objects.filter(slot=slot).exclude(status="cancelled").count() == 1
    assert Consultation.objects.count() == ROUNDS
    assert ConsultationEvent.objects.count() == ROUNDS
    print(f"{THREADS} desks x {ROUNDS} rounds: {elapsed:.1f} s")  # shown with -s
