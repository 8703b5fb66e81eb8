"""Every resource type the facade serves, by name."""

from interop.fhir.mappers.audit import AUDIT_EVENT
from interop.fhir.mappers.billing import CHARGE_ITEM, INVOICE, PAYMENT_NOTICE
from interop.fhir.mappers.clinical import CONDITION, CONSENT, ENCOUNTER, OBSERVATION
from interop.fhir.mappers.medications import MEDICATION_DISPENSE, MEDICATION_REQUEST, PROVENANCE
from interop.fhir.mappers.patients import PATIENT
from interop.fhir.mappers.places import DEVICE, LOCATION, ORGANIZATION
from interop.fhir.mappers.practitioners import PRACTITIONER, PRACTITIONER_ROLE
from interop.fhir.mappers.scheduling import APPOINTMENT, SCHEDULE, SLOT
from interop.fhir.registry import ResourceType

REGISTRY: dict[str, ResourceType] = {
    resource_type.name: resource_type
    for resource_type in (
        PATIENT,
        PRACTITIONER,
        PRACTITIONER_ROLE,
        ORGANIZATION,
        LOCATION,
        DEVICE,
        SCHEDULE,
        SLOT,
        APPOINTMENT,
        ENCOUNTER,
        CONSENT,
        CONDITION,
        OBSERVATION,
        MEDICATION_REQUEST,
        MEDICATION_DISPENSE,
        PROVENANCE,
        CHARGE_ITEM,
        INVOICE,
        PAYMENT_NOTICE,
        AUDIT_EVENT,
    )
}
