"""Prescription transitions: sign, approve (countersign), reject, revoke, expire, dispense.

Signing is two steps around the signature itself: the content is built and checked, the key is
unlocked with the PIN and signs (outside any transaction: a wrong PIN's failure count must be
committed), then the row is locked again and the signature stored only if the content it covers
is still exactly the prescription's content.
"""

import datetime
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import PharmacistProfile, Role
from consultations.services.lifecycle import require_treating_doctor
from core.actors import SYSTEM_ACTOR, Actor
from core.dates import local_day_start
from core.exceptions import ConflictError, DomainError, PermissionDeniedError
from core.models import AuditAction
from core.services import audit_record
from notifications.services import notify
from prescriptions.content import clinical_content, content_bytes, review_content
from prescriptions.models import (
    TRANSITIONS,
    Prescription,
    PrescriptionEvent,
    PrescriptionStatus,
    RejectionReason,
)
from prescriptions.services.prescribing import (
    AUDIT_OBJECT_TYPE,
    spec_from_prescription,
    validate_draft,
)
from signing.services import sign_payload

Check = Callable[[Prescription], dict[str, Any]]
Announce = Callable[[Prescription], None]


def _transition(
    *,
    prescription: Prescription,
    to_status: str,
    actor: Actor,
    check: Check,
    reason: str = "",
    now: datetime.datetime,
    announce: Announce | None = None,
    durable: bool = True,
) -> Prescription:
    """Lock, check the table, run `check` (the fields to write), write, record an event."""
    with transaction.atomic(durable=durable):
        locked = (
            Prescription.objects.select_for_update()
            .select_related("patient", "doctor__user", "consultation")
            .get(pk=prescription.pk)
        )
        if to_status not in TRANSITIONS[locked.status]:
            raise ConflictError(
                f"A {locked.status} prescription cannot become {to_status}.",
                code="invalid_transition",
                extra={"status": locked.status},
            )
        changes = check(locked)
        from_status = locked.status
        locked.status = to_status
        for field, value in changes.items():
            setattr(locked, field, value)
        locked.save(update_fields=["status", "updated_at", *changes])
        PrescriptionEvent.objects.create(
            prescription=locked,
            from_status=from_status,
            to_status=to_status,
            actor=actor.user,
            actor_role=actor.role,
            reason=reason[:500],
            occurred_at=now,
        )
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[locked.public_id],
            detail={"status": [from_status, to_status]},
        )
        if announce is not None:
            announce(locked)
    return locked


def validity_end(signed_at: datetime.datetime, days: int) -> datetime.datetime:
    """The end of the signing day in Asia/Shanghai, or of the last of `days` days."""
    return local_day_start(timezone.localdate(signed_at) + datetime.timedelta(days=days))


def _unacknowledged(prescription: Prescription) -> list[str]:
    return [w.kind for w in prescription.warnings.all() if not w.acknowledged_at]


def _signing_content(prescription: Prescription, now: datetime.datetime) -> bytes:
    valid_until = validity_end(now, prescription.validity_days)
    return content_bytes(clinical_content(prescription, signed_at=now, valid_until=valid_until))


def prescription_sign(*, actor: Actor, prescription: Prescription, pin: str) -> Prescription:
    """Only the treating doctor signs, with the signing PIN every time (rule 4)."""
    now = timezone.now().replace(microsecond=0)
    draft = Prescription.objects.select_related(
        "consultation__patient",
        "consultation__doctor__user",
        "patient",
        "doctor__user",
        "doctor__department",
        "diagnosis",
        "evidence",
        "previous_version",
    ).get(pk=prescription.pk)
    require_treating_doctor(actor, draft.consultation)
    if draft.status != PrescriptionStatus.DRAFT:
        raise ConflictError(
            "Only a draft is signed.", code="invalid_transition", extra={"status": draft.status}
        )
    validate_draft(
        draft.consultation,
        diagnosis_code=draft.diagnosis.code,
        spec=spec_from_prescription(draft),
        today=timezone.localdate(now),
    )
    pending = _unacknowledged(draft)
    if pending:
        raise DomainError(
            "Acknowledge every warning with a reason before signing.",
            code="warnings_unacknowledged",
            extra={"warnings": pending},
        )
    payload = _signing_content(draft, now)
    assert actor.user is not None
    signature = sign_payload(user=actor.user, pin=pin, payload=payload)

    def check(locked: Prescription) -> dict[str, Any]:
        if _signing_content(locked, now) != payload or _unacknowledged(locked):
            raise ConflictError(
                "The prescription changed while it was being signed; sign again.",
                code="prescription_changed",
            )
        return {
            "signed_at": now,
            "valid_until": validity_end(now, locked.validity_days),
            "signed_content": payload.decode(),
            "doctor_signature": signature.signature,
            "doctor_certificate": signature.certificate_pem,
            "doctor_certificate_serial": signature.certificate_serial,
        }

    return _transition(
        prescription=draft,
        to_status=PrescriptionStatus.SIGNED,
        actor=actor,
        check=check,
        now=now,
        announce=_announce_to_review,
    )


def _announce_to_review(prescription: Prescription) -> None:
    for pharmacist in PharmacistProfile.objects.filter(user__is_active=True).select_related("user"):
        notify(
            event="prescription_to_review",
            recipient=pharmacist.user,
            objects={"prescription": prescription.pk},
            dedupe_key=f"prescription:{prescription.pk}:to_review:{pharmacist.pk}",
        )


def _require_pharmacist(actor: Actor) -> PharmacistProfile:
    profile = (
        PharmacistProfile.objects.filter(user=actor.user).select_related("user").first()
        if actor.has_role(Role.PHARMACIST) and actor.user is not None
        else None
    )
    if profile is None:
        raise PermissionDeniedError(
            "Only a pharmacist reviews prescriptions.", code="not_pharmacist"
        )
    return profile


def _require_reviewable(prescription: Prescription, now: datetime.datetime) -> None:
    if prescription.status != PrescriptionStatus.SIGNED:
        raise ConflictError(
            "Only a signed prescription awaiting review is reviewed.",
            code="invalid_transition",
            extra={"status": prescription.status},
        )
    if prescription.valid_until is not None and prescription.valid_until <= now:
        raise ConflictError("The prescription has expired.", code="prescription_expired")


def prescription_approve(*, actor: Actor, prescription: Prescription, pin: str) -> Prescription:
    """The pharmacist countersigns the doctor's signed content and the decision (rule 10)."""
    from prescriptions.verification import verify_prescription_signatures

    pharmacist = _require_pharmacist(actor)
    now = timezone.now().replace(microsecond=0)
    current = Prescription.objects.get(pk=prescription.pk)
    _require_reviewable(current, now)
    report = verify_prescription_signatures(current)
    if not report.valid:
        raise ConflictError(
            "The doctor's signature does not verify; the prescription cannot be approved.",
            code="signature_invalid",
            extra={"problems": report.problems},
        )
    content = review_content(
        current,
        decision=PrescriptionStatus.APPROVED,
        reviewed_at=now,
        pharmacist_name=pharmacist.user.full_name,
        pharmacist_id=str(pharmacist.user.public_id),
        pharmacist_licence=pharmacist.licence_number,
    )
    payload = content_bytes(content)
    assert actor.user is not None
    signature = sign_payload(user=actor.user, pin=pin, payload=payload)

    def check(locked: Prescription) -> dict[str, Any]:
        _require_reviewable(locked, now)
        if locked.doctor_signature != current.doctor_signature:
            raise ConflictError(
                "The prescription changed during review.", code="prescription_changed"
            )
        return {
            "reviewed_at": now,
            "pharmacist": pharmacist,
            "review_content": payload.decode(),
            "pharmacist_signature": signature.signature,
            "pharmacist_certificate": signature.certificate_pem,
            "pharmacist_certificate_serial": signature.certificate_serial,
        }

    return _transition(
        prescription=current,
        to_status=PrescriptionStatus.APPROVED,
        actor=actor,
        check=check,
        now=now,
        announce=_announce_approved,
    )


def _announce_approved(prescription: Prescription) -> None:
    from payments.services import order_create_for_prescription

    notify(
        event="prescription_approved",
        recipient=prescription.doctor.user,
        objects={"prescription": prescription.pk},
        dedupe_key=f"prescription:{prescription.pk}:approved",
    )
    order_create_for_prescription(prescription=prescription)


def prescription_reject(
    *, actor: Actor, prescription: Prescription, reasons: list[str], comment: str
) -> Prescription:
    pharmacist = _require_pharmacist(actor)
    now = timezone.now().replace(microsecond=0)
    unknown = sorted(set(reasons) - set(RejectionReason.values))
    if not reasons or unknown:
        raise DomainError(
            "Give at least one known rejection reason.",
            code="rejection_reason_invalid",
            fields={"reasons": [f"Unknown: {', '.join(unknown)}" if unknown else "Required."]},
        )
    if not comment.strip():
        raise DomainError(
            "Tell the doctor what to change.",
            code="rejection_comment_required",
            fields={"comment": ["Required."]},
        )

    def check(locked: Prescription) -> dict[str, Any]:
        _require_reviewable(locked, now)
        return {
            "reviewed_at": now,
            "pharmacist": pharmacist,
            "rejection_reasons": sorted(set(reasons)),
            "rejection_comment": comment.strip()[:2000],
        }

    return _transition(
        prescription=prescription,
        to_status=PrescriptionStatus.REJECTED,
        actor=actor,
        check=check,
        reason=",".join(sorted(set(reasons))),
        now=now,
        announce=_announce_rejected,
    )


def _announce_rejected(prescription: Prescription) -> None:
    notify(
        event="prescription_rejected",
        recipient=prescription.doctor.user,
        objects={"prescription": prescription.pk},
        dedupe_key=f"prescription:{prescription.pk}:rejected",
    )


def prescription_revoke(*, actor: Actor, prescription: Prescription, reason: str) -> Prescription:
    """The treating doctor or operations withdraw a prescription before it is dispensed."""
    if not reason.strip():
        raise DomainError(
            "Say why the prescription is revoked.",
            code="revoke_reason_required",
            fields={"reason": ["Required."]},
        )
    if not actor.has_role(Role.OPERATIONS):
        require_treating_doctor(actor, prescription.consultation)
    now = timezone.now()
    return _transition(
        prescription=prescription,
        to_status=PrescriptionStatus.REVOKED,
        actor=actor,
        check=lambda locked: {"revoked_at": now, "revoke_reason": reason.strip()[:300]},
        reason=reason.strip(),
        now=now,
    )


def prescriptions_expire(*, now: datetime.datetime | None = None, batch: int = 500) -> int:
    """Signed or approved prescriptions past their validity expire (periodic task)."""
    now = now or timezone.now()
    due = list(
        Prescription.objects.filter(
            status__in=[PrescriptionStatus.SIGNED, PrescriptionStatus.APPROVED],
            valid_until__lte=now,
        ).values_list("pk", flat=True)[:batch]
    )
    expired = 0
    for pk in due:

        def check(locked: Prescription) -> dict[str, Any]:
            if locked.valid_until is None or locked.valid_until > now:
                raise ConflictError("Still valid.", code="prescription_valid")
            return {"expired_at": now}

        try:
            _transition(
                prescription=Prescription(pk=pk),
                to_status=PrescriptionStatus.EXPIRED,
                actor=SYSTEM_ACTOR,
                check=check,
                reason="past valid_until",
                now=now,
            )
        except ConflictError:
            continue  # dispensed, revoked or re-validated meanwhile
        expired += 1
    return expired


def require_effective(prescription: Prescription, *, now: datetime.datetime | None = None) -> None:
    """Approved and still valid: the only state in which drugs are charged or dispensed."""
    now = now or timezone.now()
    if prescription.status != PrescriptionStatus.APPROVED:
        raise ConflictError(
            "Only an approved prescription can be paid or dispensed.",
            code="prescription_not_effective",
            extra={"status": prescription.status},
        )
    if prescription.valid_until is None or prescription.valid_until <= now:
        raise ConflictError("The prescription has expired.", code="prescription_expired")


def prescription_mark_dispensed(
    *, actor: Actor, prescription: Prescription, now: datetime.datetime | None = None
) -> Prescription:
    """Called by the pharmacy inside its dispense transaction: at most once (rule 11)."""
    now = now or timezone.now()

    def check(locked: Prescription) -> dict[str, Any]:
        require_effective(locked, now=now)
        return {"dispensed_at": now}

    return _transition(
        prescription=prescription,
        to_status=PrescriptionStatus.DISPENSED,
        actor=actor,
        check=check,
        now=now,
        durable=False,
    )
