"""Working sets for the load benchmark, made in an existing populated database before the clock
starts: new patients at the seeded facilities, consultations booked, checked in and started, draft
prescriptions, pending orders paid at the emulated provider with their signed callbacks, paid
pickups with their codes, dispatched deliveries with tracking, and the credentials (JWT, session
cookie) their users present.

Everything goes through the project's services, with the test builders that are safe to run twice
against one database (`give_consent`, `give_evidence`, `create_order`, `open_attempt`,
`payer_pays_quietly`, `stock_up`). Two shortcuts, as the test builders take them too:

- the slot of a visit that starts now is written directly (as `make_visit` does), since seeded
  slots start on the schedule, not in the next minutes;
- a prescription made for an order (`approved_prescriptions`) is drafted through the service and
  then marked approved directly: the doctor's and the pharmacist's signatures each unlock a key
  with scrypt (about 0.1 s), which would dominate the preparation and is not what those
  scenarios measure (the sign scenario measures it).

Every name and number a run makes is unique to that run (ids, phones, the services' own
counters), so a database can be benchmarked again and again.
"""

import datetime
import random
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import Exists, OuterRef
from django.test import Client
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import PharmacistProfile, Role, User
from clinics.models import Facility, StaffMembership
from consultations.models import Consultation, ConsultationStatus, Slot
from consultations.services.booking import consultation_book
from consultations.services.lifecycle import consultation_check_in, consultation_start
from core.actors import Actor, actor_for_user
from core.crypto import decrypt_text
from core.demo import data as demo_data
from notifications.models import LoginCode
from notifications.otp import login_code_request, login_code_verify
from patients.identity import resident_id_with_check_digit
from patients.models import Patient
from patients.services import patient_register
from payments.models import PaymentAttempt
from payments.services import DeliveryAddress, order_choose_fulfilment
from payments.services.callbacks import callback_handle
from pharmacy.models import FacilityStock, Fulfilment, FulfilmentStatus, Waybill
from prescriptions.models import Drug, Prescription, PrescriptionStatus
from prescriptions.rules import DraftSpec, ItemSpec
from prescriptions.services.lifecycle import validity_end
from prescriptions.services.prescribing import prescription_create
from provider_emulators.hooks import emulator_signed_callback
from provider_emulators.services import SignedCallback
from signing.models import CredentialStatus, SigningCredential
from tests.consultations.builders import Visit, give_consent, give_evidence
from tests.payments.factories import Sale, create_order, open_attempt, payer_pays_quietly
from tests.pharmacy.builders import stock_up

# Threads that prepare working sets (the database waits more than Python computes).
PREPARE_THREADS = 4
# The signing PIN of every doctor and pharmacist seed_demo and seed_scale make.
DEMO_SIGNING_PIN = demo_data.DEMO_SIGNING_PIN
# The diagnosis every bench visit treats, and a drug for it (amlodipine, by ATC code).
DIAGNOSIS = "I10"
DRUG_ATC = "C08CA01"
ADDRESS = DeliveryAddress(
    recipient="陈志强",
    phone="13800138000",
    province="广东省",
    city="广州市",
    district="越秀区",
    detail="东风中路 483 号 3 栋 1201",
)


class WorkingSetError(RuntimeError):
    """The database lacks what a working set is made from (run seed_demo first)."""


@dataclass(frozen=True)
class Site:
    """A seeded facility and one of its clinic staff."""

    facility: Facility
    staff: User

    @property
    def actor(self) -> Actor:
        return actor_for_user(self.staff)


@dataclass
class Context:
    """What the working sets are built from: seeded facilities, doctors and a pharmacist."""

    sites: list[Site]
    doctors: list[User]
    drug: Drug
    rng: random.Random
    run_tag: str

    def site(self, n: int) -> Site:
        return self.sites[n % len(self.sites)]

    def doctor(self, n: int) -> User:
        return self.doctors[n % len(self.doctors)]


def load_context(*, sites: int = 4, doctors: int = 8, seed: int | None = None) -> Context:
    """The first `sites` facilities with staff and the first `doctors` schedulable doctors
    holding an active signing credential (by username), and the drug bench visits prescribe."""
    today = timezone.localdate()
    memberships = list(
        StaffMembership.objects.filter(user__is_active=True, user__role=Role.CLINIC_STAFF)
        .select_related("facility", "user")
        .order_by("facility__code", "user__username")
    )
    chosen: dict[int, Site] = {}
    for membership in memberships:
        if membership.facility_id not in chosen:
            chosen[membership.facility_id] = Site(membership.facility, membership.user)
        if len(chosen) == sites:
            break
    signing = SigningCredential.objects.filter(user=OuterRef("pk"), status=CredentialStatus.ACTIVE)
    candidates = (
        User.objects.filter(role=Role.DOCTOR, is_active=True)
        .filter(Exists(signing))
        .select_related("doctor_profile__department")
        .order_by("username")
    )
    doctor_users = [
        user
        for user in candidates
        if hasattr(user, "doctor_profile") and user.doctor_profile.can_be_scheduled(today)
    ][:doctors]
    drug = (
        Drug.objects.filter(
            atc_code=DRUG_ATC,
            is_active=True,
            online_prescribable=True,
            cold_chain=False,
            control_class="none",
            dose_unit="mg",
        )
        .order_by("code")
        .first()
    )
    if not chosen or not doctor_users or drug is None:
        raise WorkingSetError(
            "The database needs facilities with staff, schedulable doctors with signing "
            f"credentials and the formulary ({DRUG_ATC}): run `manage.py seed_demo` first."
        )
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    return Context(
        sites=list(chosen.values()),
        doctors=doctor_users,
        drug=drug,
        rng=rng,
        run_tag=uuid.UUID(int=rng.getrandbits(128)).hex[:8],
    )


def pharmacist() -> User:
    profile = (
        PharmacistProfile.objects.filter(user__is_active=True)
        .select_related("user")
        .order_by("user__username")
        .first()
    )
    if profile is None:
        raise WorkingSetError("The database has no pharmacist: run `manage.py seed_demo` first.")
    return profile.user


# --- Credentials ---------------------------------------------------------------------------------


def bearer(user: User) -> dict[str, str]:
    """The Authorization header of a freshly issued access token (as `POST auth/token/` gives)."""
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


def session_cookie(user: User) -> dict[str, str]:
    """A signed-in session for the user, as the pages' sign-in leaves it (the Cookie header)."""
    from django.conf import settings

    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    name = settings.SESSION_COOKIE_NAME
    return {"Cookie": f"{name}={client.cookies[name].value}"}


def patient_account(patient: Patient) -> User:
    """The patient's own account, as the phone sign-in makes it (a code sent, the code typed)."""
    if patient.user_id is not None:
        return User.objects.get(pk=patient.user_id)
    issued = login_code_request(phone=patient.phone)
    assert isinstance(issued, LoginCode)
    patient.user = login_code_verify(phone=patient.phone, code=decrypt_text(issued.code_encrypted))
    return patient.user


# --- Patients and visits -----------------------------------------------------------------------


def _resident_id(rng: random.Random) -> str:
    birth = datetime.date(1950, 1, 1) + datetime.timedelta(days=rng.randrange(50 * 365))
    return resident_id_with_check_digit(f"440104{birth:%Y%m%d}{rng.randrange(1000):03d}")


def new_patients(context: Context, site: Site, count: int) -> list[Patient]:
    """`count` patients registered at the site by its staff, each with a phone of their own."""
    from core.exceptions import ConflictError

    patients: list[Patient] = []
    while len(patients) < count:
        try:
            patients.append(
                patient_register(
                    actor=site.actor,
                    name="陈志强",
                    id_type="resident_id",
                    id_number=_resident_id(context.rng),
                    phone=f"139{context.rng.randrange(10**8):08d}",
                )
            )
        except ConflictError:  # the random ID number is someone's already: draw again
            continue
    return patients


def _slot_starting_soon(doctor: User, offset: int) -> Slot:
    """A slot of the doctor starting in about ten minutes (check-in is open)."""
    profile = doctor.doctor_profile
    start = timezone.now() + datetime.timedelta(minutes=10, microseconds=offset)
    return Slot.objects.create(
        doctor=profile,
        department=profile.department,
        starts_at=start,
        ends_at=start + datetime.timedelta(minutes=15),
    )


def visits(
    context: Context, count: int, *, status: str = ConsultationStatus.IN_PROGRESS
) -> list[Visit]:
    """`count` visits spread over the context's doctors and sites, booked for new patients who
    consented and brought verified evidence, checked in, and (for `in_progress`) started."""
    made: list[Visit] = []
    for n in range(count):
        site, doctor = context.site(n), context.doctor(n)
        (patient,) = new_patients(context, site, 1)
        give_consent(patient, site.staff)
        give_evidence(patient, site.staff, verified_by=doctor)
        consultation = consultation_book(
            actor=site.actor, patient=patient, slot=_slot_starting_soon(doctor, n)
        )
        consultation = consultation_check_in(actor=site.actor, consultation=consultation)
        if status == ConsultationStatus.IN_PROGRESS:
            consultation = consultation_start(
                actor=actor_for_user(doctor), consultation=consultation
            )
        made.append(
            Visit(
                consultation=consultation,
                facility=site.facility,
                staff=site.staff,
                doctor=doctor,
                patient=patient,
            )
        )
    return made


# --- Booking ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Booking:
    site: Site
    patient: Patient
    slot: Slot


def bookings(context: Context, count: int, *, per_patient: int = 3) -> list[Booking]:
    """`count` (staff, new patient, free future slot) triples: each patient gets up to
    `per_patient` slots on different days (MAX_FUTURE_BOOKINGS_PER_PATIENT, no overlap)."""
    from consultations.selectors.slots import slot_is_booked

    free = list(
        Slot.objects.filter(
            is_withdrawn=False,
            starts_at__gt=timezone.now() + datetime.timedelta(hours=1),
            department__is_active=True,
            doctor__user__is_active=True,
            doctor__independent_practice_since__lte=timezone.localdate()
            - datetime.timedelta(days=3 * 366),
        )
        .exclude(slot_is_booked())
        .order_by("?")[: count * 2]
    )
    by_day: dict[datetime.date, list[Slot]] = {}
    for slot in free:
        by_day.setdefault(timezone.localdate(slot.starts_at), []).append(slot)
    days = sorted(by_day)
    triples: list[Booking] = []
    n = 0
    while len(triples) < count:
        open_days = [day for day in days if by_day[day]]
        if not open_days:
            break
        site = context.site(n)
        (patient,) = new_patients(context, site, 1)
        for day in open_days[:per_patient]:
            triples.append(Booking(site=site, patient=patient, slot=by_day[day].pop()))
        n += 1
    return triples[:count]


# --- Prescriptions -------------------------------------------------------------------------------


def _spec(drug: Drug) -> DraftSpec:
    return DraftSpec(
        items=[ItemSpec(drug=drug, dose=Decimal(5), frequency="qd", route="oral", days_supply=7)]
    )


def drafts(context: Context, visits_: list[Visit], per_visit: int) -> list[Prescription]:
    """Draft prescriptions written by each visit's doctor through the prescribing service."""

    def for_visit(visit: Visit) -> list[Prescription]:
        actor = actor_for_user(visit.doctor)
        return [
            prescription_create(
                actor=actor,
                consultation=visit.consultation,
                diagnosis_code=DIAGNOSIS,
                spec=_spec(context.drug),
            )
            for _ in range(per_visit)
        ]

    return [draft for made in in_threads(for_visit, visits_) for draft in made]


def approved_prescriptions(
    context: Context, visits_: list[Visit], per_visit: int
) -> list[Prescription]:
    """Drafts marked signed and approved without the two scrypt unlocks (see the module doc)."""
    prescriptions = drafts(context, visits_, per_visit)
    now = timezone.now()
    reviewer = pharmacist()
    Prescription.objects.filter(pk__in=[p.pk for p in prescriptions]).update(
        status=PrescriptionStatus.APPROVED,
        signed_at=now,
        valid_until=validity_end(now, 1),
        reviewed_at=now,
        pharmacist=reviewer.pharmacist_profile,
    )
    for prescription in prescriptions:
        prescription.refresh_from_db()
    return prescriptions


# --- Orders, callbacks and fulfilments ---------------------------------------------------------


def patient_sale(visit: Visit, prescription: Prescription, *, method: str) -> Sale:
    """The approval's order, and the patient's choice of pickup or delivery on their phone."""
    sale = Sale(
        visit=visit,
        prescription=prescription,
        order=create_order(prescription),
        patient_user=patient_account(visit.patient),
    )
    order_choose_fulfilment(
        actor=sale.patient_actor,
        order=sale.order,
        method=method,
        delivery_address=ADDRESS if method == "delivery" else None,
    )
    sale.refresh()
    return sale


def paid_at_provider(sale: Sale, *, provider: str) -> PaymentAttempt:
    """The provider order opened (at the emulator) and paid by the payer; its notification
    not sent yet."""
    attempt: PaymentAttempt = open_attempt(sale, provider=provider)
    payer_pays_quietly(attempt)
    return attempt


def pending_payments(
    context: Context, visits_: list[Visit], count: int, *, provider: str, method: str = "pickup"
) -> list[PaymentAttempt]:
    """`count` orders, spread over the visits, paid at the provider and waiting for the
    notification (one thread per visit: the drafting service locks the consultation)."""
    per_visit = -(-count // len(visits_))

    def for_visit(visit: Visit) -> list[PaymentAttempt]:
        attempts = []
        for prescription in approved_prescriptions(context, [visit], per_visit):
            sale = patient_sale(visit, prescription, method=method)
            attempts.append(paid_at_provider(sale, provider=provider))
        return attempts

    return [attempt for made in in_threads(for_visit, visits_) for attempt in made][:count]


def in_threads[Item, Made](work: Callable[[Item], Made], items: list[Item]) -> list[Made]:
    """`work` on each item, each on a thread of its own with its own database connection."""

    def run(item: Item) -> Made:
        try:
            return work(item)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=min(PREPARE_THREADS, len(items))) as pool:
        return list(pool.map(run, items))


def signed_callbacks(attempts: Iterable[PaymentAttempt]) -> list[SignedCallback]:
    """Each provider's genuine notification (signed by the emulator's keys) of each payment,
    signed now: the handler refuses those older than PAYMENT_NOTIFICATION_MAX_AGE_SECONDS."""
    return [
        emulator_signed_callback(provider=attempt.provider, out_trade_no=attempt.out_trade_no)
        for attempt in attempts
    ]


def deliver_callbacks(attempts: list[PaymentAttempt]) -> None:
    """Hand each payment's notification to the platform's handler, in this process."""

    def deliver(chunk: list[PaymentAttempt]) -> None:
        for attempt, callback in zip(chunk, signed_callbacks(chunk), strict=True):
            reply = callback_handle(
                provider=attempt.provider, headers=callback.headers, body=callback.body
            )
            if reply.status not in (200, 204) or reply.body == b"failure":
                refused = f"the platform refused {attempt.out_trade_no}: {reply.body!r}"
                raise WorkingSetError(refused)

    in_threads(deliver, [attempts[n::PREPARE_THREADS] for n in range(PREPARE_THREADS)])


def paid_pickups(context: Context, visits_: list[Visit], count: int) -> list[Fulfilment]:
    """`count` pickups paid through the WeChat Pay notification, ready at the visits' facilities
    with their codes, the shelves stocked for them."""
    for visit in visits_:
        stocked = (
            FacilityStock.objects.filter(facility=visit.facility, drug=context.drug)
            .values_list("quantity", flat=True)
            .first()
        )
        stock_up(visit.facility, context.drug, (stocked or 0) + count)
    attempts = pending_payments(context, visits_, count, provider="wechatpay")
    deliver_callbacks(attempts)
    fulfilments = list(
        Fulfilment.objects.filter(order__attempts__in=attempts).select_related("facility")
    )
    if len(fulfilments) != len(attempts) or any(
        f.status != FulfilmentStatus.READY_FOR_PICKUP for f in fulfilments
    ):
        raise WorkingSetError("some paid pickups are not ready for pickup")
    return fulfilments


def tracked_deliveries(
    context: Context, visits_: list[Visit], *, steps: int, timeout: float = 60
) -> list[Fulfilment]:
    """One paid delivery per visit, dispatched by the worker (its waybill from the courier
    emulator) and moved `steps` steps along by the courier's signed tracking callbacks."""
    from courier_emulator.models import EmulatedWaybill
    from courier_emulator.services import waybill_advance
    from tests.support.processes import wait_until

    attempts = []
    for visit, (prescription,) in _grouped(visits_, approved_prescriptions(context, visits_, 1)):
        sale = patient_sale(visit, prescription, method="delivery")
        attempts.append(paid_at_provider(sale, provider="alipay"))
    deliver_callbacks(attempts)
    fulfilments = list(Fulfilment.objects.filter(order__attempts__in=attempts))
    wait_until(
        lambda: Waybill.objects.filter(fulfilment__in=fulfilments).count() >= len(fulfilments),
        timeout=timeout,
        what="the worker to dispatch the deliveries",
    )
    for waybill in Waybill.objects.filter(fulfilment__in=fulfilments):
        emulated = EmulatedWaybill.objects.get(waybill_number=waybill.waybill_number)
        for _ in range(steps):
            _event, delivery = waybill_advance(waybill=emulated)
            if delivery.status_code != 200:
                raise WorkingSetError(f"tracking callback refused: {delivery.body}")
    return fulfilments


def _grouped(
    visits_: list[Visit], prescriptions: list[Prescription]
) -> Iterator[tuple[Visit, list[Prescription]]]:
    by_consultation: dict[int, list[Prescription]] = {}
    for prescription in prescriptions:
        by_consultation.setdefault(prescription.consultation_id, []).append(prescription)
    for visit in visits_:
        yield visit, by_consultation.get(visit.consultation.pk, [])


def counts() -> dict[str, int]:
    """The size of the database the run works against."""
    return {
        "consultations": Consultation.objects.count(),
        "patients": Patient.objects.count(),
    }
