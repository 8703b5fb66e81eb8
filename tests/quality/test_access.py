"""Every quality endpoint and page as each role, the owner and the wrong owner: who may, who is
refused (403), and for whom the object does not exist (404, the same as "not yours")."""

import datetime
from dataclasses import dataclass

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import DoctorTitle, Role, User
from clinics.services import IssuedCredential
from core.actors import actor_for_user
from quality.links import feedback_token
from quality.models import Complaint, FeedbackInvitation, ReviewAssignment, ReviewSample
from quality.services.complaints import complaint_file
from tests.factories import api_client, make_terminal, make_user, terminal_client
from tests.pharmacy.builders import Scene, make_pickup
from tests.quality.builders import make_doctor_in

pytestmark = pytest.mark.django_db

ROLES = [
    "anonymous",
    "terminal",
    "patient",
    "other_patient",
    "staff",
    "other_staff",
    "doctor",
    "reviewer",
    "pharmacist",
    "operations",
]


@dataclass
class World:
    scene: Scene
    other: Scene
    users: dict[str, User]
    terminal: IssuedCredential
    complaint: Complaint
    review: ReviewAssignment
    invitation: FeedbackInvitation

    def api(self, role: str) -> APIClient:
        if role == "anonymous":
            return APIClient()
        if role == "terminal":
            return terminal_client(self.terminal.credential)
        return api_client(self.users[role])

    def page(self, role: str) -> Client:
        client = Client()
        if role in self.users:
            client.force_login(self.users[role])
        return client


@pytest.fixture
def world() -> World:
    scene, other = make_pickup(), make_pickup()
    consultation = scene.visit.consultation
    reviewer = make_doctor_in(consultation.department, title=DoctorTitle.CHIEF, name="审核医生")
    users = {
        "patient": scene.patient_user,
        "other_patient": other.patient_user,
        "staff": scene.staff,
        "other_staff": other.staff,
        "doctor": scene.visit.doctor,
        "reviewer": reviewer,
        "pharmacist": make_user(role=Role.PHARMACIST),
        "operations": make_user(),
    }
    complaint = complaint_file(
        actor=actor_for_user(scene.patient_user),
        subject_kind="consultation",
        subject_id=consultation.public_id,
        description="等候太久",
    )
    assert consultation.doctor is not None
    now = timezone.now()
    review = ReviewAssignment.objects.create(
        sample=ReviewSample.objects.create(
            week_start=datetime.date(2026, 11, 16), seed="s", default_rate="0.1"
        ),
        kind="consultation",
        consultation=consultation,
        doctor=consultation.doctor,
        author=consultation.doctor.user,
        reviewer=reviewer,
        assigned_at=now,
        due_at=now + datetime.timedelta(days=7),
    )
    invitation = FeedbackInvitation.objects.create(
        consultation=consultation,
        patient=consultation.patient,
        invited_at=now,
        expires_at=now + datetime.timedelta(days=7),
    )
    return World(
        scene=scene,
        other=other,
        users=users,
        terminal=make_terminal(scene.facility),
        complaint=complaint,
        review=review,
        invitation=invitation,
    )


def expect(table: dict[str, int], default: int) -> list[tuple[str, int]]:
    return [(role, table.get(role, default)) for role in ROLES]


# --- Complaints API --------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), expect({"anonymous": 401}, 200))
def test_list_complaints(world: World, role: str, status: int) -> None:
    answer = world.api(role).get("/api/v1/complaints/")

    assert answer.status_code == status
    if status == 200:
        expected = 1 if role in ("patient", "operations") else 0
        assert answer.json()["count"] == expected


@pytest.mark.parametrize(
    ("role", "status"),
    expect(
        {"anonymous": 401, "patient": 201, "staff": 201, "other_patient": 404, "other_staff": 404},
        403,
    ),
)
def test_file_a_complaint(world: World, role: str, status: int) -> None:
    before = Complaint.objects.count()

    answer = world.api(role).post(
        "/api/v1/complaints/",
        {
            "subject_kind": "prescription",
            "subject": str(world.scene.prescription.public_id),
            "description": "药品说明不清楚",
        },
        format="json",
    )

    assert answer.status_code == status
    assert Complaint.objects.count() == before + (1 if status == 201 else 0)


@pytest.mark.parametrize(
    ("role", "status"), expect({"anonymous": 401, "patient": 200, "operations": 200}, 404)
)
def test_read_a_complaint(world: World, role: str, status: int) -> None:
    answer = world.api(role).get(f"/api/v1/complaints/{world.complaint.public_id}/")

    assert answer.status_code == status


@pytest.mark.parametrize(
    ("role", "status"),
    expect({"anonymous": 401, "patient": 403, "operations": 200}, 404),
)
def test_triage_a_complaint(world: World, role: str, status: int) -> None:
    answer = world.api(role).post(
        f"/api/v1/complaints/{world.complaint.public_id}/triage/",
        {
            "category": "waiting",
            "severity": "low",
            "assignee": str(world.users["operations"].public_id),
        },
        format="json",
    )

    assert answer.status_code == status
    world.complaint.refresh_from_db()
    assert world.complaint.status == ("triaged" if status == 200 else "submitted")


@pytest.mark.parametrize("step", ["reply", "close"])
@pytest.mark.parametrize(
    ("role", "status"),
    expect({"anonymous": 401, "patient": 403, "operations": 409}, 404),
)
def test_answer_or_close_a_complaint(world: World, step: str, role: str, status: int) -> None:
    """Untriaged, operations are told it is too early (409); everyone else never gets that far."""
    payload = {"body": "答复"} if step == "reply" else {"resolution": "已处理"}

    answer = world.api(role).post(
        f"/api/v1/complaints/{world.complaint.public_id}/{step}/", payload, format="json"
    )

    assert answer.status_code == status


@pytest.mark.parametrize(
    ("role", "status"),
    expect({"anonymous": 401, "patient": 200, "operations": 403}, 404),
)
def test_withdraw_a_complaint(world: World, role: str, status: int) -> None:
    answer = world.api(role).post(
        f"/api/v1/complaints/{world.complaint.public_id}/withdraw/", {}, format="json"
    )

    assert answer.status_code == status
    world.complaint.refresh_from_db()
    assert world.complaint.status == ("withdrawn" if status == 200 else "submitted")


# --- Reviews API -----------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "status"), expect({"anonymous": 401}, 200))
def test_list_reviews(world: World, role: str, status: int) -> None:
    answer = world.api(role).get("/api/v1/quality-reviews/")

    assert answer.status_code == status
    if status == 200:
        assert answer.json()["count"] == (1 if role in ("reviewer", "operations") else 0)


@pytest.mark.parametrize(
    ("role", "status"),
    expect({"anonymous": 401, "reviewer": 200, "operations": 200}, 404),
)
def test_read_a_review(world: World, role: str, status: int) -> None:
    answer = world.api(role).get(f"/api/v1/quality-reviews/{world.review.public_id}/")

    assert answer.status_code == status
    if status == 200:
        assert ("material" in answer.json()) == (role == "reviewer")


@pytest.mark.parametrize(
    ("role", "status"),
    expect({"anonymous": 401, "reviewer": 200, "operations": 403}, 404),
)
def test_score_a_review(world: World, role: str, status: int) -> None:
    scores = {
        "record_completeness": 5,
        "diagnosis_consistency": 4,
        "rule_compliance": 5,
        "communication": 4,
    }

    answer = world.api(role).post(
        f"/api/v1/quality-reviews/{world.review.public_id}/score/", scores, format="json"
    )

    assert answer.status_code == status
    world.review.refresh_from_db()
    assert world.review.status == ("completed" if status == 200 else "assigned")


# --- Dashboard API ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/quality/dashboard/", "/api/v1/quality/dashboard/export/"]
)
@pytest.mark.parametrize(("role", "status"), expect({"anonymous": 401, "operations": 200}, 403))
def test_the_dashboard_api(world: World, path: str, role: str, status: int) -> None:
    assert world.api(role).get(path).status_code == status


# --- The survey link (no sign-in) ------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_the_survey_link_is_its_own_credential(world: World, role: str) -> None:
    url = f"/api/v1/feedback/{feedback_token(world.invitation.public_id)}/"

    assert world.api(role).get(url).status_code == 200
    assert (
        world.page(role)
        .get(f"/quality/feedback/{feedback_token(world.invitation.public_id)}/")
        .status_code
        == 200
    )


# --- Pages -----------------------------------------------------------------------------------


OPERATIONS_PAGES = ["/quality/", "/quality/export.csv", "/quality/complaints/"]


@pytest.mark.parametrize("path", OPERATIONS_PAGES)
@pytest.mark.parametrize(
    ("role", "status"), expect({"anonymous": 302, "terminal": 302, "operations": 200}, 403)
)
def test_operations_pages(world: World, path: str, role: str, status: int) -> None:
    answer = world.page(role).get(path)

    assert answer.status_code == status
    if status == 302:
        assert answer["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize(
    ("role", "status"), expect({"anonymous": 302, "terminal": 302, "operations": 200}, 403)
)
def test_the_complaint_page(world: World, role: str, status: int) -> None:
    answer = world.page(role).get(f"/quality/complaints/{world.complaint.public_id}/")

    assert answer.status_code == status


@pytest.mark.parametrize("step", ["triage", "reply", "close"])
@pytest.mark.parametrize(
    ("role", "status"),
    [
        (role, status)
        for role, status in expect({"anonymous": 302, "terminal": 302}, 403)
        if role != "operations"  # operations' own flow is in test_complaints
    ],
)
def test_complaint_steps_on_the_pages_are_for_operations(
    world: World, step: str, role: str, status: int
) -> None:
    answer = world.page(role).post(
        f"/quality/complaints/{world.complaint.public_id}/{step}/",
        {"body": "x", "resolution": "x", "category": "other", "severity": "low"},
    )

    assert answer.status_code == status
    world.complaint.refresh_from_db()
    assert world.complaint.status == "submitted"


@pytest.mark.parametrize(
    ("role", "status"),
    expect(
        {
            "anonymous": 302,
            "terminal": 302,
            "doctor": 200,
            "reviewer": 200,
            "pharmacist": 200,
            "operations": 200,
        },
        403,
    ),
)
def test_the_reviews_page(world: World, role: str, status: int) -> None:
    assert world.page(role).get("/quality/reviews/").status_code == status


@pytest.mark.parametrize(
    ("role", "status"),
    expect(
        {"anonymous": 302, "terminal": 302, "reviewer": 200, "doctor": 404, "pharmacist": 404},
        403,
    ),
)
def test_the_review_page_is_the_reviewers(world: World, role: str, status: int) -> None:
    answer = world.page(role).get(f"/quality/reviews/{world.review.public_id}/")

    assert answer.status_code == status


def test_a_missing_complaint_page_is_not_found(world: World) -> None:
    client = world.page("operations")

    answer = client.get("/quality/complaints/00000000-0000-4000-8000-000000000000/")

    assert answer.status_code == 404
