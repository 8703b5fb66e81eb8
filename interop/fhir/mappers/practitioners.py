"""Practitioner and PractitionerRole: the hospital's doctors and pharmacists (accounts).

Both use the user's public id (the id the REST API gives doctors). Visible under the doctors
directory's rule (`doctors_visible_to`: every signed-in role but patients and terminals);
pharmacists, who have no directory of their own, follow the same rule.
"""

from django.db.models import Q, QuerySet

from accounts.models import Role, User
from accounts.selectors import doctors_visible_to
from core.actors import Actor
from interop.fhir import codes
from interop.fhir import datatypes as dt
from interop.fhir.datatypes import JSON
from interop.fhir.params import NOTHING, parse_token, reference_filter, string_filter
from interop.fhir.registry import (
    Include,
    MapContext,
    ResourceType,
    SearchParam,
    Source,
    references_at,
    uuid_id,
)

DIRECTORY_ROLES = (Role.OPERATIONS, Role.CLINIC_STAFF, Role.DOCTOR, Role.PHARMACIST)


def practitioner_rows(actor: Actor) -> QuerySet[User]:
    visible = Q(pk__in=doctors_visible_to(actor=actor).values("user_id"))
    if actor.has_role(*DIRECTORY_ROLES):
        visible |= Q(role=Role.PHARMACIST, is_active=True, pharmacist_profile__isnull=False)
    return User.objects.filter(visible).select_related(
        "doctor_profile__department__hospital", "pharmacist_profile"
    )


def _profile_licence(user: User) -> tuple[str, str, str]:
    """(licence system, licence number, v2 identifier type)."""
    if user.role == Role.DOCTOR:
        return codes.local_system("doctor-licence"), user.doctor_profile.licence_number, "MD"
    return codes.local_system("pharmacist-licence"), user.pharmacist_profile.licence_number, ""


def practitioner_resource(user: User, context: MapContext) -> JSON:
    system, licence, type_code = _profile_licence(user)
    licence_identifier = dt.identifier(system, licence)
    if type_code:
        licence_identifier["type"] = dt.concept(dt.coding(codes.V2_IDENTIFIER_TYPE, type_code))
    resource = dt.resource("Practitioner", str(user.public_id), None)
    resource |= {
        "identifier": [licence_identifier],
        "active": user.is_active,
        "name": [{"use": "official", "text": user.full_name or user.username}],
    }
    if user.role == Role.DOCTOR:
        profile = user.doctor_profile
        resource["qualification"] = [
            {
                "identifier": [
                    dt.identifier(
                        codes.local_system("doctor-qualification"), profile.qualification_number
                    )
                ],
                "code": dt.concept(
                    dt.coding(codes.local_system("doctor-title"), profile.title),
                    text=dt.label(profile.get_title_display()),
                ),
            }
        ]
    else:
        pharmacist = user.pharmacist_profile
        resource["qualification"] = [
            {
                "code": dt.concept(
                    dt.coding(codes.local_system("pharmacist-title"), pharmacist.title),
                    text=dt.label(pharmacist.get_title_display()),
                )
            }
        ]
    return resource


def practitioner_role_resource(user: User, context: MapContext) -> JSON:
    resource = dt.resource("PractitionerRole", str(user.public_id), None)
    resource |= {
        "active": user.is_active,
        "practitioner": dt.reference("Practitioner", user.public_id, user.full_name),
    }
    if user.role == Role.DOCTOR:
        department = user.doctor_profile.department
        resource["organization"] = dt.reference(
            "Organization", department.hospital.public_id, department.hospital.name
        )
        resource["code"] = [dt.concept(dt.coding(codes.PRACTITIONER_ROLE, "doctor", "Doctor"))]
        resource["specialty"] = [
            dt.concept(
                dt.coding(
                    codes.local_system("department"),
                    department.code,
                    department.name_en or department.name,
                ),
                text=department.name,
            )
        ]
    else:
        if context.hospital is not None:
            resource["organization"] = dt.reference(
                "Organization", context.hospital.public_id, context.hospital.name
            )
        resource["code"] = [
            dt.concept(dt.coding(codes.PRACTITIONER_ROLE, "pharmacist", "Pharmacist"))
        ]
    return resource


def _licence_filter(raw: str) -> Q:
    token = parse_token(raw)
    if token.code is None:
        return NOTHING
    doctor = Q(doctor_profile__licence_number=token.code)
    pharmacist = Q(pharmacist_profile__licence_number=token.code)
    if token.system == codes.local_system("doctor-licence"):
        return doctor
    if token.system == codes.local_system("pharmacist-licence"):
        return pharmacist
    return doctor | pharmacist if token.system is None else NOTHING


def _role_filter(raw: str) -> Q:
    code = parse_token(raw).code
    return Q(role=code) if code in (Role.DOCTOR, Role.PHARMACIST) else NOTHING


def _specialty_filter(raw: str) -> Q:
    return Q(doctor_profile__department__code=parse_token(raw).code)


PRACTITIONER = ResourceType(
    name="Practitioner",
    documentation="Doctors and pharmacists of the hub hospital.",
    sources=(
        Source(
            rows=practitioner_rows,
            to_resource=practitioner_resource,
            id_filter=uuid_id(),
            order_by=("username",),
            filters={"identifier": _licence_filter, "name": string_filter("full_name")},
        ),
    ),
    params={
        "identifier": SearchParam("token", "Practising licence number (执业证书编码)"),
        "name": SearchParam("string", "The name starts with"),
    },
)

PRACTITIONER_ROLE = ResourceType(
    name="PractitionerRole",
    documentation="A doctor in their department, or a pharmacist, at the hub hospital.",
    sources=(
        Source(
            rows=practitioner_rows,
            to_resource=practitioner_role_resource,
            id_filter=uuid_id(),
            order_by=("username",),
            filters={
                "practitioner": reference_filter("public_id", "Practitioner"),
                "role": _role_filter,
                "specialty": _specialty_filter,
            },
        ),
    ),
    params={
        "practitioner": SearchParam("reference", "Practitioner/<id>"),
        "role": SearchParam("token", "doctor | pharmacist"),
        "specialty": SearchParam("token", "Department code"),
    },
    includes={
        "PractitionerRole:practitioner": Include("Practitioner", references_at("practitioner")),
    },
)
