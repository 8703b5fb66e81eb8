"""Terminal device credentials, heartbeats and the terminals API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from clinics.models import Terminal, TerminalStatus
from clinics.services import terminals_mark_stale_offline
from tests.factories import (
    api_client,
    make_facility,
    make_staff,
    make_terminal,
    make_user,
    terminal_client,
)

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"
HEARTBEAT = "/api/v1/terminals/heartbeat/"


def test_good_credential_authenticates_the_terminal():
    issued = make_terminal()
    response = terminal_client(issued.credential).get(ME)
    assert response.status_code == 200
    assert response.json() == {
        "id": None,
        "username": None,
        "full_name": None,
        "role": "terminal",
        "facility": str(issued.terminal.facility.public_id),
    }


def test_stored_hash_is_not_the_secret():
    issued = make_terminal()
    secret = issued.credential.split(":", 1)[1]
    stored = Terminal.objects.get(pk=issued.terminal.pk).credential_hash
    assert len(stored) == 64
    assert secret not in stored


@pytest.mark.parametrize(
    "mangle",
    [
        lambda serial, secret: f"{serial}:{secret}x",
        lambda serial, secret: f"NOSUCH:{secret}",
        lambda serial, secret: f"{serial}:",
    ],
    ids=["wrong secret", "unknown serial", "empty secret"],
)
def test_wrong_credential_is_refused(mangle):
    issued = make_terminal()
    serial, secret = issued.credential.split(":", 1)
    response = terminal_client(mangle(serial, secret)).get(ME)
    assert response.status_code == 401
    assert response.json()["code"] in {
        "terminal_credential_invalid",
        "terminal_credential_malformed",
    }


def test_revoked_credential_is_refused_and_rotation_issues_a_new_one():
    issued = make_terminal()
    operations = api_client(make_user())
    url = f"/api/v1/terminals/{issued.terminal.public_id}/"

    revoked = operations.post(f"{url}revoke-credential/")
    assert revoked.status_code == 200
    assert revoked.json()["credential_active"] is False
    refused = terminal_client(issued.credential).get(ME)
    assert (refused.status_code, refused.json()["code"]) == (401, "terminal_credential_revoked")

    rotated = operations.post(f"{url}rotate-credential/")
    assert rotated.status_code == 200
    new_credential = rotated.json()["credential"]
    assert new_credential != issued.credential
    assert terminal_client(new_credential).get(ME).status_code == 200
    assert terminal_client(issued.credential).get(ME).status_code == 401


def test_terminal_of_an_inactive_facility_is_refused():
    issued = make_terminal(make_facility(is_active=False))
    response = terminal_client(issued.credential).get(ME)
    assert (response.status_code, response.json()["code"]) == (401, "facility_inactive")


def test_heartbeat_brings_a_terminal_online_but_not_out_of_maintenance():
    issued = make_terminal()
    response = terminal_client(issued.credential).post(HEARTBEAT)
    assert response.status_code == 200
    assert response.json()["status"] == "online"
    terminal = Terminal.objects.get(pk=issued.terminal.pk)
    assert terminal.last_heartbeat_at is not None

    Terminal.objects.filter(pk=terminal.pk).update(status=TerminalStatus.MAINTENANCE)
    assert terminal_client(issued.credential).post(HEARTBEAT).json()["status"] == "maintenance"


def test_only_a_terminal_sends_heartbeats():
    staff = make_staff()
    response = api_client(staff).post(HEARTBEAT)
    assert response.status_code in (401, 403)
    assert response.json()["code"] in {"not_authenticated", "permission_denied"}


def test_stale_terminals_go_offline(settings):
    settings.TERMINAL_OFFLINE_AFTER_SECONDS = 180
    now = timezone.now()
    stale = make_terminal().terminal
    fresh = make_terminal().terminal
    Terminal.objects.filter(pk=stale.pk).update(
        status="online", last_heartbeat_at=now - timedelta(seconds=181)
    )
    Terminal.objects.filter(pk=fresh.pk).update(
        status="online", last_heartbeat_at=now - timedelta(seconds=60)
    )

    assert terminals_mark_stale_offline(now=now) == 1
    assert Terminal.objects.get(pk=stale.pk).status == "offline"
    assert Terminal.objects.get(pk=fresh.pk).status == "online"


def test_operations_register_a_terminal_and_see_its_credential_once():
    facility = make_facility()
    operations = api_client(make_user())
    response = operations.post(
        "/api/v1/terminals/",
        {"serial": "GZ-0001", "facility": str(facility.public_id)},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["credential"].startswith("GZ-0001:")
    assert terminal_client(body["credential"]).get(ME).json()["role"] == "terminal"
    detail = operations.get(f"/api/v1/terminals/{body['terminal']['id']}/").json()
    assert "credential" not in detail
    duplicate = operations.post(
        "/api/v1/terminals/",
        {"serial": "GZ-0001", "facility": str(facility.public_id)},
        format="json",
    )
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "terminal_serial_taken")


def test_staff_see_only_their_own_facilitys_terminals():
    mine = make_terminal().terminal
    theirs = make_terminal().terminal
    staff = api_client(make_staff(facility=mine.facility))

    listed = staff.get("/api/v1/terminals/").json()
    assert [row["id"] for row in listed["results"]] == [str(mine.public_id)]
    assert staff.get(f"/api/v1/terminals/{theirs.public_id}/").status_code == 404
    assert staff.post(f"/api/v1/terminals/{mine.public_id}/revoke-credential/").status_code == 403
    assert Terminal.objects.get(pk=mine.pk).credential_revoked_at is None
