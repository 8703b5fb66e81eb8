"""The pickup scan: staff (or the terminal) of the pickup facility type the code or scan the QR
code, and the medicine is handed over — at most once."""

import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Role
from core.actors import TERMINAL_ROLE, Actor
from core.exceptions import ConflictError, DomainError, NotFoundError, PermissionDeniedError
from payments.models import FulfilmentMethod
from pharmacy.models import Fulfilment, FulfilmentStatus
from pharmacy.pickup_codes import code_expired, is_code_shaped, read_pickup_token
from pharmacy.services.dispensing import (
    dispense_record,
    lock_for_dispense,
    require_dispensable,
    stock_take,
)
from pharmacy.services.fulfilments import fulfilment_move


def _require_dispenser(actor: Actor) -> int:
    if actor.has_role(Role.CLINIC_STAFF, TERMINAL_ROLE) and actor.facility_id is not None:
        return actor.facility_id
    raise PermissionDeniedError(
        "Only the pickup facility's staff or terminal hand over medicine.", code="not_dispenser"
    )


def _find(*, facility_id: int, code: str, token: str) -> tuple[Fulfilment, str]:
    """The pickup at this facility the code or token names, with the code presented.

    A code or token of another facility's pickup is "not found" here, exactly like one that
    never existed. A code once used may later be drawn again: the pickup still waiting wins.
    """
    here = Fulfilment.objects.filter(method=FulfilmentMethod.PICKUP, facility_id=facility_id)
    if token:
        claims = read_pickup_token(token)
        if claims is None:
            raise ConflictError("This QR code is not a pickup code.", code="pickup_code_invalid")
        found = here.filter(public_id=claims.fulfilment_public_id).first()
        presented = claims.code
    else:
        if not is_code_shaped(code):
            raise DomainError(
                "A pickup code is 8 digits.",
                code="pickup_code_invalid",
                fields={"code": ["8 digits."]},
            )
        found = (
            here.filter(pickup_code=code, status=FulfilmentStatus.READY_FOR_PICKUP).first()
            or here.filter(pickup_code=code)
            .order_by(F("picked_up_at").desc(nulls_last=True), "-pk")
            .first()
        )
        presented = code
    if found is None:
        raise NotFoundError("No pickup with this code here.")
    return found, presented


def pickup_dispense(
    *,
    actor: Actor,
    code: str = "",
    token: str = "",
    now: datetime.datetime | None = None,
) -> Fulfilment:
    """Check approved, paid, unexpired, not dispensed, right facility; then in one transaction
    mark the prescription dispensed, take the stock, record the Dispense and the handover."""
    now = now or timezone.now()
    facility_id = _require_dispenser(actor)
    found, presented = _find(facility_id=facility_id, code=code.strip(), token=token.strip())
    with transaction.atomic(durable=True):
        locked = lock_for_dispense(found)
        fulfilment = locked.fulfilment
        require_dispensable(locked, now=now)
        if fulfilment.status != FulfilmentStatus.READY_FOR_PICKUP:
            raise ConflictError(
                "This pickup is not ready.",
                code="invalid_transition",
                extra={"status": fulfilment.status},
            )
        if presented != fulfilment.pickup_code:
            raise ConflictError("This pickup code has been replaced.", code="pickup_code_invalid")
        if code_expired(fulfilment.pickup_code_expires_at, now):
            raise ConflictError("This pickup code has expired.", code="pickup_code_expired")
        dispense = dispense_record(locked, actor=actor, facility_id=facility_id, now=now)
        stock_take(locked, facility_id=facility_id, dispense=dispense, actor=actor, now=now)
        fulfilment_move(
            fulfilment,
            FulfilmentStatus.PICKED_UP,
            actor=actor,
            now=now,
            changes={"picked_up_at": now},
            reason="handed over at the facility",
        )
    return fulfilment
