"""A patient's copy of everything the platform holds about them (PIPL art. 45): the record,
consents, evidence, consultations with notes, diagnoses and vitals, prescriptions, orders,
payments and refunds, fulfilments, the messages sent to them, and who accessed their record.
JSON for machines, PDF for people. The export itself is audited."""

from __future__ import annotations

import io
import json
from typing import Any

from django.db.models import Q
from django.utils import timezone
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from core.actors import Actor
from core.models import AuditAction, AuditEvent
from core.services import audit_record
from patients.models import Patient
from patients.services import patient_decrypt_id_number

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))
EXPORT_FORMAT = "telehealth.patient-data/1"


def _time(value: Any) -> str | None:
    return timezone.localtime(value).isoformat(timespec="seconds") if value else None


def _consultations(patient: Patient) -> list[dict[str, Any]]:
    from consultations.models import Consultation

    rows = (
        Consultation.objects.filter(patient=patient)
        .select_related("doctor__user", "department", "facility", "note")
        .prefetch_related("diagnoses__code", "vitals")
        .order_by("scheduled_start")
    )
    result = []
    for consultation in rows:
        note = getattr(consultation, "note", None)
        result.append(
            {
                "id": str(consultation.public_id),
                "status": consultation.status,
                "scheduled_start": _time(consultation.scheduled_start),
                "department": consultation.department.name,
                "doctor": consultation.doctor.user.full_name if consultation.doctor else None,
                "facility": consultation.facility.name,
                "note": (
                    {
                        "subjective": note.subjective,
                        "objective": note.objective,
                        "assessment": note.assessment,
                        "plan": note.plan,
                    }
                    if note
                    else None
                ),
                "diagnoses": [
                    {"code": d.code.code, "name": d.code.name_zh}
                    for d in consultation.diagnoses.all()
                ],
                "vitals": [
                    {
                        "kind": v.kind,
                        "value": str(v.value),
                        "value_secondary": str(v.value_secondary) if v.value_secondary else None,
                        "unit": v.unit,
                        "measured_at": _time(v.measured_at),
                    }
                    for v in consultation.vitals.all()
                ],
            }
        )
    return result


def _prescriptions(patient: Patient) -> list[dict[str, Any]]:
    from prescriptions.models import Prescription, PrescriptionStatus

    rows = (
        Prescription.objects.filter(patient=patient)
        .exclude(status=PrescriptionStatus.DRAFT)
        .select_related("diagnosis", "doctor__user")
        .prefetch_related("items__drug")
        .order_by("created_at")
    )
    return [
        {
            "number": f"{p.number}-{p.version}",
            "status": p.status,
            "diagnosis": {"code": p.diagnosis.code, "name": p.diagnosis.name_zh},
            "doctor": p.doctor.user.full_name,
            "signed_at": _time(p.signed_at),
            "valid_until": _time(p.valid_until),
            "items": [
                {
                    "drug": item.drug.name_zh,
                    "strength": item.drug.strength,
                    "dose": f"{item.dose.normalize():f} {item.dose_unit}",
                    "frequency": item.frequency,
                    "days_supply": item.days_supply,
                    "quantity": f"{item.quantity} {item.drug.pack_unit}",
                }
                for item in p.items.all()
            ],
        }
        for p in rows
    ]


def _orders(patient: Patient) -> list[dict[str, Any]]:
    from payments.models import PaymentOrder

    rows = (
        PaymentOrder.objects.filter(patient=patient)
        .prefetch_related("lines", "refunds")
        .order_by("created_at")
    )
    return [
        {
            "number": order.number,
            "status": order.status,
            "total_fen": order.total_fen,
            "insurance_fund_fen": order.insurance_fund_fen,
            "insurance_personal_fen": order.insurance_personal_fen,
            "paid_fen": order.paid_fen,
            "refunded_fen": order.refunded_fen,
            "paid_at": _time(order.paid_at),
            "lines": [
                {"kind": line.kind, "description": line.description, "amount_fen": line.amount_fen}
                for line in order.lines.all()
            ],
            "refunds": [
                {"amount_fen": refund.amount_fen, "status": refund.status, "reason": refund.reason}
                for refund in order.refunds.all()
            ],
        }
        for order in rows
    ]


def _fulfilments(patient: Patient) -> list[dict[str, Any]]:
    from pharmacy.models import Fulfilment

    rows = (
        Fulfilment.objects.filter(order__patient=patient).prefetch_related("events").order_by("pk")
    )
    return [
        {
            "id": str(fulfilment.public_id),
            "method": fulfilment.method,
            "status": fulfilment.status,
            "events": [
                {"to": event.to_status, "at": _time(event.occurred_at)}
                for event in fulfilment.events.all()
            ],
        }
        for fulfilment in rows
    ]


def _messages(patient: Patient) -> list[dict[str, Any]]:
    from notifications.models import Notification

    recipients = Q(recipient_patient=patient)
    if patient.user_id:
        recipients |= Q(recipient_user_id=patient.user_id)
    rows = Notification.objects.filter(recipients).order_by("created_at")
    return [
        {"event": n.event, "channel": n.channel, "status": n.status, "sent_at": _time(n.sent_at)}
        for n in rows
    ]


def _accesses(patient: Patient, record_ids: list[str]) -> list[dict[str, Any]]:
    rows = AuditEvent.objects.filter(object_id__in=record_ids).order_by("occurred_at", "pk")
    return [
        {
            "at": _time(event.occurred_at),
            "role": event.actor_role,
            "action": event.action,
            "record": event.object_type,
        }
        for event in rows
    ]


def patient_data_export(*, actor: Actor, patient: Patient) -> dict[str, Any]:
    consultations = _consultations(patient)
    prescriptions = _prescriptions(patient)
    record_ids = [str(patient.public_id)] + [c["id"] for c in consultations]
    document = {
        "format": EXPORT_FORMAT,
        "exported_at": _time(timezone.now()),
        "patient": {
            "name": patient.name,
            "id_type": patient.id_type,
            "id_number": patient_decrypt_id_number(patient=patient),
            "birth_date": patient.birth_date.isoformat(),
            "sex": patient.sex,
            "phone": patient.phone,
            "allergies": patient.allergies,
            "chronic_conditions": patient.chronic_conditions,
            "guardian": patient.guardian_name or None,
        },
        "consents": [
            {"template": str(c.template_id), "signer": c.signer, "signed_at": _time(c.signed_at)}
            for c in patient.consents.order_by("signed_at")
        ],
        "evidence": [
            {
                "institution": e.issuing_institution,
                "diagnosis": e.diagnosis_id,
                "diagnosis_date": e.diagnosis_date.isoformat(),
                "verified": e.verified_at is not None,
            }
            for e in patient.evidence.order_by("uploaded_at")
        ],
        "consultations": consultations,
        "prescriptions": prescriptions,
        "orders": _orders(patient),
        "fulfilments": _fulfilments(patient),
        "messages": _messages(patient),
        "accesses": _accesses(patient, record_ids),
    }
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type="patient",
        object_ids=[patient.public_id],
        detail={"export": True},
    )
    return document


def render_export_pdf(document: dict[str, Any]) -> bytes:
    """The same content as readable pages: one line per fact, sections in order."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, pageCompression=1)
    height = A4[1]
    y = height - 20 * mm

    def line(text: str, size: float = 9) -> None:
        nonlocal y
        if y < 15 * mm:
            pdf.showPage()
            y = height - 20 * mm
        pdf.setFont(FONT, size)
        pdf.drawString(15 * mm, y, text[:110])
        y -= size * 0.5 * mm + 2 * mm

    line("个人健康信息副本 Copy of my health data", 14)
    line(f"导出时间 Exported: {document['exported_at']}")
    for section, value in document.items():
        if section in ("format", "exported_at"):
            continue
        line("")
        line(f"[{section}]", 11)
        entries = value if isinstance(value, list) else [value]
        for entry in entries:
            line(json.dumps(entry, ensure_ascii=False))
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
