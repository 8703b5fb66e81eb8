"""Complaints: who may file about what, the lifecycle through triage, answers and closing (each
step an event, an audit row and a message to the complainant), withdrawal, and the deadline
escalation task."""

import datetime
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import Role, User
from core.actors import SYSTEM_ACTOR, actor_for_user
from core.models import AuditEvent
from notifications.models import InAppMessage, Notification
from quality.models import Complaint, ComplaintEvent, ComplaintReply, ComplaintStatus
from quality.services import complaints
from quality.services.complaints import COMPLAINT_STEPS, complaints_escalate_overdue
from quality.tasks import complaints_escalate_task
from tests.factories import api_client, make_staff, make_user
from tests.pharmacy.builders import Scene, make_pickup

# The default deadlines: triage within QUALITY_COMPLAINT_TRIAGE_HOURS, a high-severity complaint
# closed within its QUALITY_COMPLAINT_SLA_HOURS, both from submission.
TRIAGE_WINDOW = datetime.timedelta(hours=24)
RESOLUTION_WINDOW = datetime.timedelta(hours=72)

pytestmark = pytest.mark.django_db

URL = "/api/v1/complaints/"
HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def scene() -> Scene:
    return make_pickup()


def subject_id(scene: Scene, kind: str) -> str:
    return str(
        {
            "consultation": scene.visit.consultation,
            "prescription": scene.prescription,
            "payment": scene.order,
            "delivery": scene.fulfilment,
        }[kind].public_id
    )


def file(user: User, scene: Scene, kind: str = "consultation", text: str = "视频多次中断") -> Any:
    return api_client(user).post(
        URL,
        {"subject_kind": kind, "subject": subject_id(scene, kind), "description": text},
        format="json",
    )


def filed(scene: Scene, now: datetime.datetime | None = None) -> Complaint:
    return complaints.complaint_file(
        actor=actor_for_user(scene.patient_user),
        subject_kind="consultation",
        subject_id=scene.visit.consultation.public_id,
        description="医生迟到二十分钟",
        now=now,
    )


def events_of(complaint: Complaint) -> list[tuple[str, str, str]]:
    return [
        (event.action, event.from_status, event.to_status)
        for event in ComplaintEvent.objects.filter(complaint=complaint)
    ]


def notified(event: str) -> list[int]:
    return sorted(
        set(Notification.objects.filter(event=event).values_list("recipient_user_id", flat=True))
    )


# --- Filing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["consultation", "prescription", "payment", "delivery"])
def test_a_patient_files_about_their_own_care(scene: Scene, kind: str) -> None:
    answer = file(scene.patient_user, scene, kind)

    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert (body["subject_kind"], body["subject"], body["status"]) == (
        kind,
        subject_id(scene, kind),
        "submitted",
    )
    assert body["consultation"] == str(scene.visit.consultation.public_id)
    complaint = Complaint.objects.get()
    assert complaint.facility_id == scene.facility.pk
    triage_window = complaint.due_at - complaint.created_at
    assert triage_window == TRIAGE_WINDOW
    assert events_of(complaint) == [("submitted", "", "submitted")]
    assert notified("complaint_received") == [scene.patient_user.pk]
    assert AuditEvent.objects.filter(
        object_type="complaint", action="create", object_id=str(complaint.public_id)
    ).exists()


def test_staff_file_about_their_facility_only(scene: Scene) -> None:
    elsewhere = make_staff()

    mine = file(scene.staff, scene, "prescription", "患者反映药品包装破损")
    theirs = file(elsewhere, scene, "prescription")

    assert mine.status_code == 201
    assert mine.json()["complainant_role"] == "clinic_staff"
    assert theirs.status_code == 404
    assert theirs.json()["code"] == "complaint_subject_not_found"
    assert Complaint.objects.count() == 1


@pytest.mark.parametrize("kind", ["consultation", "prescription", "payment", "delivery"])
def test_a_patient_cannot_complain_about_someone_elses_care(scene: Scene, kind: str) -> None:
    stranger = make_pickup().patient_user

    answer = file(stranger, scene, kind)

    assert answer.status_code == 404
    assert Complaint.objects.count() == 0
    assert Notification.objects.filter(event="complaint_received").count() == 0


@pytest.mark.parametrize("role", [Role.DOCTOR, Role.PHARMACIST, Role.OPERATIONS])
def test_other_roles_do_not_file(scene: Scene, role: str) -> None:
    answer = file(make_user(role=role), scene)

    assert answer.status_code == 403
    assert answer.json()["code"] == "complaint_not_allowed"
    assert Complaint.objects.count() == 0


def test_an_empty_complaint_is_refused(scene: Scene) -> None:
    answer = file(scene.patient_user, scene, text="   ")

    assert answer.status_code == 400
    assert Complaint.objects.count() == 0


# --- The lifecycle -----------------------------------------------------------------------------


def test_the_full_lifecycle(scene: Scene, django_capture_on_commit_callbacks: Any) -> None:
    operator, colleague = make_user(), make_user()
    ops = api_client(operator)
    created = file(scene.patient_user, scene).json()
    url = f"{URL}{created['id']}/"

    triaged = ops.post(
        f"{url}triage/",
        {"category": "technical", "severity": "high", "assignee": str(colleague.public_id)},
        format="json",
    )
    with django_capture_on_commit_callbacks(execute=True):
        answered = ops.post(f"{url}reply/", {"body": "已联系设备厂商更换摄像头。"}, format="json")
    again = ops.post(f"{url}reply/", {"body": "摄像头已于今日更换。"}, format="json")
    closed = ops.post(f"{url}close/", {"resolution": "更换终端摄像头，退还问诊费。"}, format="json")
    late = ops.post(f"{url}reply/", {"body": "补充说明"}, format="json")

    assert triaged.status_code == 200
    body = triaged.json()
    assert (body["status"], body["category"], body["severity"]) == ("triaged", "technical", "high")
    assert body["assignee"]["id"] == str(colleague.public_id)
    complaint = Complaint.objects.get()
    resolution_window = complaint.due_at - complaint.created_at
    assert resolution_window == RESOLUTION_WINDOW
    assert answered.json()["status"] == "responded"
    assert again.json()["status"] == "responded"
    assert closed.status_code == 200
    assert (closed.json()["status"], closed.json()["resolution"]) == (
        "closed",
        "更换终端摄像头，退还问诊费。",
    )
    assert late.status_code == 409
    assert late.json()["code"] == "invalid_transition"
    assert events_of(complaint) == [
        ("submitted", "", "submitted"),
        ("triaged", "submitted", "triaged"),
        ("replied", "triaged", "responded"),
        ("replied", "responded", "responded"),
        ("closed", "responded", "closed"),
    ]
    assert ComplaintReply.objects.count() == 2
    steps = [
        event.detail["step"]
        for event in AuditEvent.objects.filter(
            object_type="complaint", action="update", object_id=str(complaint.public_id)
        ).order_by("pk")
    ]
    assert steps == ["triaged", "replied", "replied", "closed"]
    assert notified("complaint_assigned") == [colleague.pk]
    assert notified("complaint_update") == [scene.patient_user.pk]
    assert Notification.objects.filter(event="complaint_update", channel="in_app").count() == 2
    assert notified("complaint_closed") == [scene.patient_user.pk]
    message = InAppMessage.objects.get(event="complaint_update")
    assert "已联系设备厂商更换摄像头。" in message.body
    assert complaint.reference in message.body
    detail = api_client(scene.patient_user).get(url).json()
    assert [reply["body"] for reply in detail["replies"]] == [
        "已联系设备厂商更换摄像头。",
        "摄像头已于今日更换。",
    ]


@pytest.mark.parametrize("step", ["reply", "close"])
def test_nothing_is_answered_or_closed_before_triage(scene: Scene, step: str) -> None:
    complaint = filed(scene)
    payload = {"body": "答复"} if step == "reply" else {"resolution": "已处理"}

    answer = api_client(make_user()).post(
        f"{URL}{complaint.public_id}/{step}/", payload, format="json"
    )

    assert answer.status_code == 409
    assert answer.json()["code"] == "invalid_transition"
    complaint.refresh_from_db()
    assert complaint.status == ComplaintStatus.SUBMITTED
    assert ComplaintReply.objects.count() == 0


def test_only_operations_triage_reply_and_close(scene: Scene) -> None:
    complaint = filed(scene)
    client = api_client(scene.patient_user)
    url = f"{URL}{complaint.public_id}/"

    answers = [
        client.post(
            f"{url}triage/",
            {"category": "other", "severity": "low", "assignee": str(make_user().public_id)},
            format="json",
        ),
        client.post(f"{url}reply/", {"body": "x"}, format="json"),
        client.post(f"{url}close/", {"resolution": "x"}, format="json"),
    ]

    assert [(a.status_code, a.json()["code"]) for a in answers] == [(403, "not_operations")] * 3
    assert events_of(complaint) == [("submitted", "", "submitted")]


def test_the_assignee_must_be_an_active_operations_colleague(scene: Scene) -> None:
    complaint = filed(scene)
    doctor = make_user(role=Role.DOCTOR)
    retired = make_user(is_active=False)

    answers = [
        api_client(make_user()).post(
            f"{URL}{complaint.public_id}/triage/",
            {"category": "waiting", "severity": "low", "assignee": str(person.public_id)},
            format="json",
        )
        for person in (doctor, retired)
    ]

    assert [(a.status_code, a.json()["code"]) for a in answers] == [(404, "assignee_not_found")] * 2
    complaint.refresh_from_db()
    assert (complaint.status, complaint.assignee_id) == ("submitted", None)


def test_the_complainant_withdraws_and_nobody_else_does(scene: Scene) -> None:
    complaint = filed(scene)
    url = f"{URL}{complaint.public_id}/withdraw/"

    by_operations = api_client(make_user()).post(url, {"reason": "误会"}, format="json")
    by_complainant = api_client(scene.patient_user).post(url, {"reason": "已解决"}, format="json")
    twice = api_client(scene.patient_user).post(url, {}, format="json")

    assert (by_operations.status_code, by_operations.json()["code"]) == (403, "not_complainant")
    assert by_complainant.status_code == 200
    assert by_complainant.json()["status"] == "withdrawn"
    assert (twice.status_code, twice.json()["code"]) == (409, "invalid_transition")
    assert events_of(complaint) == [
        ("submitted", "", "submitted"),
        ("withdrawn", "submitted", "withdrawn"),
    ]


def test_every_step_leads_where_the_transitions_table_allows() -> None:
    from quality.models import COMPLAINT_TRANSITIONS

    for moves in COMPLAINT_STEPS.values():
        for from_status, to_status in moves.items():
            assert from_status == to_status or to_status in COMPLAINT_TRANSITIONS[from_status]


# --- Visibility ------------------------------------------------------------------------------


def test_each_complainant_sees_their_own_and_operations_see_all(scene: Scene) -> None:
    mine = filed(scene)
    other = make_pickup()
    theirs = filed(other)

    own_list = api_client(scene.patient_user).get(URL).json()
    all_list = api_client(make_user()).get(URL).json()
    foreign = api_client(scene.patient_user).get(f"{URL}{theirs.public_id}/")
    staff_list = api_client(scene.staff).get(URL).json()

    assert [row["id"] for row in own_list["results"]] == [str(mine.public_id)]
    assert {row["id"] for row in all_list["results"]} == {
        str(mine.public_id),
        str(theirs.public_id),
    }
    assert foreign.status_code == 404
    assert staff_list["count"] == 0  # staff see the complaints they filed themselves
    for role in (Role.DOCTOR, Role.PHARMACIST):
        assert api_client(make_user(role=role)).get(URL).json()["count"] == 0


# --- Escalation ------------------------------------------------------------------------------


def test_overdue_complaints_are_flagged_once_and_operations_told(scene: Scene) -> None:
    start = timezone.now()
    complaint = filed(scene, now=start)
    operators = [make_user(), make_user()]
    make_user(is_active=False)  # a former colleague is not told

    assert complaints_escalate_overdue(now=start + 23 * HOUR) == 0
    assert complaints_escalate_overdue(now=start + 25 * HOUR) == 1
    assert complaints_escalate_overdue(now=start + 26 * HOUR) == 0

    complaint.refresh_from_db()
    assert complaint.escalated_at == start + 25 * HOUR
    assert complaint.status == ComplaintStatus.SUBMITTED
    assert events_of(complaint)[-1] == ("escalated", "submitted", "submitted")
    assert notified("complaint_overdue") == [user.pk for user in operators]
    assert Notification.objects.filter(event="complaint_overdue").count() == 2  # in-app only
    assert (
        AuditEvent.objects.filter(
            object_type="complaint", actor_role=SYSTEM_ACTOR.role, detail__step="escalated"
        ).count()
        == 1
    )


def test_a_new_deadline_rearms_escalation(scene: Scene) -> None:
    start = timezone.now()
    complaint = filed(scene, now=start)
    operator = make_user()
    assert complaints_escalate_overdue(now=start + 25 * HOUR) == 1

    # Critical: due 24 h after filing, already past; the flag stays.
    complaints.complaint_triage(
        actor=actor_for_user(operator),
        complaint=complaint,
        category="medical_care",
        severity="critical",
        assignee=operator,
        now=start + 26 * HOUR,
    )
    complaint.refresh_from_db()
    assert complaint.escalated_at == start + 25 * HOUR
    # Low: due 240 h after filing, ahead; the flag clears and the new deadline is watched.
    complaints.complaint_triage(
        actor=actor_for_user(operator),
        complaint=complaint,
        category="medical_care",
        severity="low",
        assignee=operator,
        now=start + 27 * HOUR,
    )
    complaint.refresh_from_db()
    assert complaint.escalated_at is None
    assert complaint.due_at == start + 240 * HOUR

    assert complaints_escalate_overdue(now=start + 239 * HOUR) == 0
    assert complaints_escalate_overdue(now=start + 241 * HOUR) == 1
    assert Notification.objects.filter(event="complaint_overdue").count() == 2
    assert [e[0] for e in events_of(complaint)] == [
        "submitted",
        "escalated",
        "triaged",
        "retriaged",
        "escalated",
    ]


def test_closed_and_withdrawn_complaints_never_escalate(scene: Scene) -> None:
    start = timezone.now()
    operator = make_user()
    closed = filed(scene, now=start)
    complaints.complaint_triage(
        actor=actor_for_user(operator),
        complaint=closed,
        category="billing",
        severity="medium",
        assignee=operator,
        now=start,
    )
    complaints.complaint_close(
        actor=actor_for_user(operator), complaint=closed, resolution="已退款", now=start
    )
    withdrawn = filed(scene, now=start)
    complaints.complaint_withdraw(
        actor=actor_for_user(scene.patient_user), complaint=withdrawn, now=start
    )

    assert complaints_escalate_overdue(now=start + 1000 * HOUR) == 0

    assert Complaint.objects.filter(escalated_at__isnull=False).count() == 0
    assert Notification.objects.filter(event="complaint_overdue").count() == 0


def test_the_escalation_task_runs_the_service(scene: Scene) -> None:
    complaint = filed(scene, now=timezone.now() - 30 * HOUR)
    make_user()

    assert complaints_escalate_task.apply().get() == 1

    complaint.refresh_from_db()
    assert complaint.escalated_at is not None


# --- Pages (operations) ----------------------------------------------------------------------


def test_operations_handle_a_complaint_on_the_pages(scene: Scene, client: Any) -> None:
    complaint = filed(scene)
    operator = make_user()
    client.force_login(operator)
    page = f"/quality/complaints/{complaint.public_id}/"

    listing = client.get("/quality/complaints/")
    detail = client.get(page)
    triage = client.post(
        f"{page}triage/",
        {"category": "waiting", "severity": "medium", "assignee": str(operator.public_id)},
    )
    reply = client.post(f"{page}reply/", {"body": "已提醒医生准时接诊。"})
    close = client.post(f"{page}close/", {"resolution": "已向患者致歉。"})
    empty_close = client.post(f"{page}close/", {"resolution": ""})

    assert listing.status_code == 200
    assert complaint.reference.encode() in listing.content
    assert detail.status_code == 200
    assert "医生迟到二十分钟".encode() in detail.content
    assert [triage.status_code, reply.status_code, close.status_code] == [302, 302, 302]
    assert empty_close.status_code == 400
    complaint.refresh_from_db()
    assert (complaint.status, complaint.severity, complaint.resolution) == (
        "closed",
        "medium",
        "已向患者致歉。",
    )


def test_a_refused_step_on_the_page_says_why(scene: Scene, client: Any) -> None:
    complaint = filed(scene)
    client.force_login(make_user())

    page = client.post(f"/quality/complaints/{complaint.public_id}/reply/", {"body": "你好"})

    assert page.status_code == 409
    assert ComplaintReply.objects.count() == 0
