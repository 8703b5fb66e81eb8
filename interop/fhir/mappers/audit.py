"""AuditEvent: the append-only audit log (core.AuditEvent), for operations (the people who read
it in the back office) and system clients granted `system/AuditEvent.read`."""

import json

from django.db.models import Q, QuerySet

from accounts.models import Role
from core.actors import Actor
from core.models import AuditAction, AuditEvent
from interop.fhir import codes
from interop.fhir import datatypes as dt
from interop.fhir.datatypes import JSON
from interop.fhir.params import NOTHING, date_filter, parse_reference, parse_token, uuid_or_none
from interop.fhir.registry import MapContext, ResourceType, SearchParam, Source

ACTIONS = {AuditAction.READ: "R", AuditAction.CREATE: "C", AuditAction.UPDATE: "U"}
# Audit object types that are a FHIR resource of their own, under the same id.
OBJECT_RESOURCES = {
    "patient": "Patient",
    "consultation": "Appointment",
    "evidence": "Condition",
    "payment_order": "Invoice",
}


def audit_event_rows(actor: Actor) -> QuerySet[AuditEvent]:
    if not actor.has_role(Role.OPERATIONS):
        return AuditEvent.objects.none()
    return AuditEvent.objects.select_related("actor")


def _who(event: AuditEvent) -> JSON:
    user = event.actor
    if user is not None and user.role in (Role.DOCTOR, Role.PHARMACIST):
        return dt.reference("Practitioner", user.public_id, user.full_name)
    if user is not None:
        return {
            "identifier": dt.identifier(codes.local_system("user"), str(user.public_id)),
            "display": user.full_name or user.username,
        }
    if event.terminal_id is not None:
        return {
            "identifier": dt.identifier(codes.local_system("terminal-id"), str(event.terminal_id)),
            "display": "terminal",
        }
    return {"display": event.actor_role}


def _entity(event: AuditEvent) -> JSON:
    what: JSON = {
        "identifier": dt.identifier(
            codes.local_system(f"audit-object/{event.object_type}"), event.object_id
        )
    }
    resource_type = OBJECT_RESOURCES.get(event.object_type)
    if resource_type is not None:
        what["reference"] = f"{resource_type}/{event.object_id}"
    entity: JSON = {
        "what": what,
        "type": dt.coding(codes.local_system("audit-object-type"), event.object_type),
    }
    if event.detail:
        entity["detail"] = [
            {
                "type": str(key),
                "valueString": value
                if isinstance(value, str)
                else json.dumps(value, ensure_ascii=False),
            }
            for key, value in event.detail.items()
        ]
    return entity


def audit_event_resource(event: AuditEvent, context: MapContext) -> JSON:
    agent: JSON = {
        "type": dt.concept(dt.coding(codes.local_system("actor-role"), event.actor_role)),
        "who": _who(event),
        "requestor": True,
    }
    if event.ip_address:
        agent["network"] = {"address": event.ip_address, "type": codes.NETWORK_TYPE_IP}
    resource = dt.resource("AuditEvent", str(event.pk), None)
    resource |= {
        "type": dt.coding(codes.AUDIT_EVENT_TYPE, "rest", "RESTful Operation"),
        "subtype": [dt.coding(codes.RESTFUL_INTERACTION, event.action)],
        "action": ACTIONS[AuditAction(event.action)],
        "recorded": dt.instant(event.occurred_at),
        "outcome": "0",
        "agent": [agent],
        "source": {
            "observer": {"display": "telehealth platform"},
            "type": [dt.coding(codes.AUDIT_SOURCE_TYPE, "4", "Application Server")],
        },
        "entity": [_entity(event)],
    }
    return resource


def _patient_filter(raw: str) -> Q:
    value = uuid_or_none(parse_reference(raw, "Patient"))
    if value is None:
        return NOTHING
    return Q(object_type="patient", object_id=str(value)) | Q(detail__patient=str(value))


def _action_filter(raw: str) -> Q:
    code = parse_token(raw).code
    actions = [action for action, letter in ACTIONS.items() if letter == code]
    return Q(action__in=actions) if actions else NOTHING


AUDIT_EVENT = ResourceType(
    name="AuditEvent",
    documentation="Who read or wrote which patient data, when, from where (operations only).",
    sources=(
        Source(
            rows=audit_event_rows,
            to_resource=audit_event_resource,
            id_filter=lambda value: (
                Q(pk=int(value)) if value.isdigit() and len(value) < 19 else None
            ),
            order_by=("-occurred_at", "-pk"),
            filters={
                "date": date_filter("occurred_at"),
                "patient": _patient_filter,
                "action": _action_filter,
                "entity-type": lambda raw: Q(object_type=parse_token(raw).code),
            },
        ),
    ),
    params={
        "date": SearchParam("date", "When it happened"),
        "patient": SearchParam("reference", "Patient/<id>: reads and writes of that patient"),
        "action": SearchParam("token", "C | R | U"),
        "entity-type": SearchParam("token", "Audit object type (patient, consultation, …)"),
    },
)
