"""Organization (the hub hospital and every facility), Location (the facilities as places) and
Device (the consultation terminals): the clinic network (clinics)."""

from collections.abc import Callable

from django.db.models import Q, QuerySet

from clinics.models import Facility, FacilityType, Hospital, Terminal, TerminalStatus
from clinics.selectors import facilities_visible_to, terminals_visible_to
from core.actors import ANONYMOUS_ROLE, Actor
from interop.fhir import codes
from interop.fhir import datatypes as dt
from interop.fhir.datatypes import JSON
from interop.fhir.params import NOTHING, parse_token, reference_filter, string_filter
from interop.fhir.registry import MapContext, ResourceType, SearchParam, Source, uuid_id

TERMINAL_TYPE = "远程问诊终端 telehealth consultation terminal"


def hospital_rows(actor: Actor) -> QuerySet[Hospital]:
    """The hub hospital is public knowledge: every signed-in caller sees it."""
    return Hospital.objects.none() if actor.has_role(ANONYMOUS_ROLE) else Hospital.objects.all()


def facility_rows(actor: Actor) -> QuerySet[Facility]:
    return facilities_visible_to(actor=actor)


def _facility_address(facility: Facility) -> JSON:
    address: JSON = {
        "use": "work",
        "type": "physical",
        "text": f"{facility.province}{facility.city}{facility.district}{facility.address_detail}",
        "city": facility.city,
        "district": facility.district,
        "state": facility.province,
        "country": "CN",
    }
    if facility.address_detail:
        address["line"] = [facility.address_detail]
    return address


def hospital_resource(hospital: Hospital, context: MapContext) -> JSON:
    resource = dt.resource("Organization", str(hospital.public_id), None)
    resource |= {
        "identifier": [dt.identifier(codes.local_system("hospital-code"), hospital.code)],
        "active": True,
        "type": [dt.concept(dt.coding(codes.ORGANIZATION_TYPE, "prov", "Healthcare Provider"))],
        "name": hospital.name,
    }
    if hospital.name_en:
        resource["alias"] = [hospital.name_en]
    if hospital.address:
        resource["address"] = [{"use": "work", "text": hospital.address, "country": "CN"}]
    return resource


def _facility_type(facility: Facility) -> JSON:
    label = FacilityType(facility.facility_type).label
    return dt.concept(
        dt.coding(
            codes.local_system("facility-type"), facility.facility_type, label.split(" ", 1)[1]
        ),
        text=dt.label(label),
    )


def facility_organization_resource(facility: Facility, context: MapContext) -> JSON:
    resource = dt.resource("Organization", str(facility.public_id), facility.updated_at)
    resource |= {
        "extension": [
            dt.extension("facility-operator", valueString=facility.operator),
            dt.extension(
                "licensed-medical-institution",
                valueBoolean=facility.is_licensed_medical_institution,
            ),
        ],
        "identifier": [dt.identifier(codes.local_system("facility-code"), facility.code)],
        "active": facility.is_active,
        "type": [_facility_type(facility)],
        "name": facility.name,
        "address": [_facility_address(facility)],
    }
    return resource


def location_resource(facility: Facility, context: MapContext) -> JSON:
    resource = dt.resource("Location", str(facility.public_id), facility.updated_at)
    resource |= {
        "identifier": [dt.identifier(codes.local_system("facility-code"), facility.code)],
        "status": "active" if facility.is_active else "inactive",
        "name": facility.name,
        "mode": "instance",
        "type": [_facility_type(facility)],
        "address": _facility_address(facility),
        "physicalType": dt.concept(dt.coding(codes.LOCATION_PHYSICAL_TYPE, "si", "Site")),
        "managingOrganization": dt.reference("Organization", facility.public_id, facility.name),
    }
    return resource


def terminal_rows(actor: Actor) -> QuerySet[Terminal]:
    return terminals_visible_to(actor=actor)


DEVICE_STATUS_REASON = {
    TerminalStatus.ONLINE: ("online", "Online"),
    TerminalStatus.OFFLINE: ("offline", "Offline"),
    TerminalStatus.MAINTENANCE: ("not-ready", "Not Ready"),
}


def device_resource(terminal: Terminal, context: MapContext) -> JSON:
    in_service = (
        terminal.status != TerminalStatus.MAINTENANCE and terminal.credential_revoked_at is None
    )
    reason, reason_display = DEVICE_STATUS_REASON[TerminalStatus(terminal.status)]
    resource = dt.resource("Device", str(terminal.public_id), None)
    resource |= {
        "identifier": [dt.identifier(codes.local_system("terminal-serial"), terminal.serial)],
        "status": "active" if in_service else "inactive",
        "statusReason": [dt.concept(dt.coding(codes.DEVICE_STATUS_REASON, reason, reason_display))],
        "deviceName": [{"name": f"远程问诊终端 {terminal.serial}", "type": "user-friendly-name"}],
        "type": dt.concept(text=TERMINAL_TYPE),
        "owner": dt.reference("Organization", terminal.facility.public_id, terminal.facility.name),
        "location": dt.reference("Location", terminal.facility.public_id, terminal.facility.name),
    }
    return resource


def _code_filter(field: str, system: str) -> Callable[[str], Q]:
    def build(raw: str) -> Q:
        token = parse_token(raw)
        if token.code is None or token.system not in (None, system):
            return NOTHING
        return Q(**{field: token.code})

    return build


def _facility_type_filter(raw: str) -> Q:
    return Q(facility_type=parse_token(raw).code)


def _hospital_type_filter(raw: str) -> Q:
    return Q() if parse_token(raw).code == "prov" else NOTHING


def _terminal_status_filter(raw: str) -> Q:
    code = parse_token(raw).code
    in_service = ~Q(status=TerminalStatus.MAINTENANCE) & Q(credential_revoked_at__isnull=True)
    if code == "active":
        return in_service
    if code == "inactive":
        return ~in_service
    return NOTHING


ORGANIZATION = ResourceType(
    name="Organization",
    documentation="The hub hospital, then the facilities of the network.",
    sources=(
        Source(
            rows=hospital_rows,
            to_resource=hospital_resource,
            id_filter=uuid_id(),
            order_by=("pk",),
            filters={
                "identifier": _code_filter("code", codes.local_system("hospital-code")),
                "name": string_filter("name"),
                "type": _hospital_type_filter,
            },
        ),
        Source(
            rows=facility_rows,
            to_resource=facility_organization_resource,
            id_filter=uuid_id(),
            order_by=("code",),
            filters={
                "identifier": _code_filter("code", codes.local_system("facility-code")),
                "name": string_filter("name"),
                "type": _facility_type_filter,
                "address-city": string_filter("city"),
            },
            last_updated="updated_at",
        ),
    ),
    params={
        "identifier": SearchParam("token", "Hospital or facility code"),
        "name": SearchParam("string", "The name starts with"),
        "type": SearchParam("token", "prov (the hospital) or a facility type"),
        "address-city": SearchParam("string", "City (facilities)"),
    },
)

LOCATION = ResourceType(
    name="Location",
    documentation="The facilities as places.",
    sources=(
        Source(
            rows=facility_rows,
            to_resource=location_resource,
            id_filter=uuid_id(),
            order_by=("code",),
            filters={
                "identifier": _code_filter("code", codes.local_system("facility-code")),
                "name": string_filter("name"),
                "address-city": string_filter("city"),
                "organization": reference_filter("public_id", "Organization"),
            },
            last_updated="updated_at",
        ),
    ),
    params={
        "identifier": SearchParam("token", "Facility code"),
        "name": SearchParam("string", "The name starts with"),
        "address-city": SearchParam("string", "City"),
        "organization": SearchParam("reference", "The facility's Organization"),
    },
)

DEVICE = ResourceType(
    name="Device",
    documentation="The consultation terminals.",
    sources=(
        Source(
            rows=terminal_rows,
            to_resource=device_resource,
            id_filter=uuid_id(),
            order_by=("serial",),
            filters={
                "identifier": _code_filter("serial", codes.local_system("terminal-serial")),
                "status": _terminal_status_filter,
                "organization": reference_filter("facility__public_id", "Organization"),
                "location": reference_filter("facility__public_id", "Location"),
            },
        ),
    ),
    params={
        "identifier": SearchParam("token", "Terminal serial"),
        "status": SearchParam("token", "active | inactive"),
        "organization": SearchParam("reference", "The owning facility"),
        "location": SearchParam("reference", "The facility it stands in"),
    },
)
