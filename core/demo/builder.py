"""Builds the demo data set with bulk inserts, so the full 9,062-facility network loads in seconds.

Every value is drawn from `random.Random` streams seeded per section, in a fixed order that does
not depend on what the database already holds or on today's date. So a row's content depends only
on the seed and its position: a second run finds every natural key (code, username, serial,
identity hash) already stored and inserts nothing, and a larger `facilities` adds only the tail.
"""

import datetime
import random
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import models, transaction
from django.utils import timezone
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumValidationError

from accounts.models import DoctorProfile, DoctorTitle, PharmacistProfile, Role, User
from clinics.authentication import credential_digest
from clinics.models import (
    Department,
    Facility,
    FacilityType,
    Hospital,
    StaffMembership,
    Terminal,
    TerminalStatus,
)
from consultations.models import Slot, Weekday, WeeklyAvailability
from consultations.services.schedules import slots_generate
from core.actors import SYSTEM_ACTOR
from core.demo import data
from patients.identity import (
    ParsedIdentity,
    normalize_phone,
    parse_resident_id,
    resident_id_with_check_digit,
)
from patients.models import (
    GUARDIAN_REQUIRED_UNDER_YEARS,
    IdentityVerification,
    Patient,
    PatientFacility,
    Sex,
    VerificationMethod,
)
from patients.services import patient_identity_columns
from pharmacy.models import FacilityStock, StockMovement, StockMovementReason
from prescriptions.models import Drug
from prescriptions.services.formulary import formulary_load_seed
from signing.models import CredentialStatus, SigningCredential
from signing.pki import pki_init
from signing.services import credential_issue_many

BATCH_SIZE = 1000
LOOKUP_CHUNK = 500  # keys per IN (...) query, well under every backend's parameter limit
# Patients are registered at the first facilities only, so a demo staff login has patients.
PATIENT_FACILITIES = 20
# Pharmacies among the first facilities stock the formulary, so pickup can be tried without
# seeding shelves for the whole network.
STOCKED_FACILITIES = 200
DEMO_STOCK_PACKS = 50
FIRST_BIRTH_DATE = datetime.date(1940, 1, 1)
LAST_BIRTH_DATE = datetime.date(2023, 12, 31)
# Every tenth patient is a small child, so the guardian rule has cases to show.
CHILD_EVERY = 10
FIRST_CHILD_BIRTH_DATE = datetime.date(2022, 1, 1)
# Birth-place codes in a stable order (a set would make rng.choice differ between runs).
REGION_CODES = tuple(
    dict.fromkeys(
        [code for city in data.CITIES for _, code in city.districts]
        + [code for _, code in data.FORMER_REGION_CODES]
    )
)

# Doctors' clinic hours (Asia/Shanghai): weekdays with a lunch break; every third doctor also
# works Saturday mornings.
WEEKDAYS = (Weekday.MONDAY, Weekday.TUESDAY, Weekday.WEDNESDAY, Weekday.THURSDAY, Weekday.FRIDAY)
Hours = tuple[tuple[datetime.time, datetime.time], ...]
CLINIC_HOURS: Hours = (
    (datetime.time(8, 30), datetime.time(12, 0)),
    (datetime.time(14, 0), datetime.time(17, 30)),
)
SATURDAY_HOURS: Hours = ((datetime.time(8, 30), datetime.time(12, 0)),)
SATURDAY_EVERY = 3

Progress = Callable[[str], None]
UserCompanion = DoctorProfile | PharmacistProfile | StaffMembership


@dataclass(frozen=True)
class TableCount:
    label: str
    created: int
    total: int


@dataclass(frozen=True)
class Site:
    """A facility patients are registered at, and the staff member who registers them."""

    facility_pk: int
    staff_pk: int


def seed_demo(*, facilities: int, patients: int, seed: int, progress: Progress) -> list[TableCount]:
    """Insert whatever part of the demo set is missing; return each table's created and total."""
    today = timezone.localdate()
    password = make_password(data.DEMO_PASSWORD)  # hashed once: hashing per user takes minutes
    before = _counts()
    with transaction.atomic(durable=True):
        departments = _seed_hospital(progress)
        _seed_formulary(progress)
        _seed_doctors(_rng(seed, "doctors"), departments, password, today, progress)
        _seed_schedules(progress)
        _seed_pharmacists(_rng(seed, "pharmacists"), password, progress)
        _seed_operations(password, progress)
        sites = _seed_network(_rng(seed, "network"), facilities, password, progress)
        _seed_patients(
            _rng(seed, "patients"), patients, sites[:PATIENT_FACILITIES], today, progress
        )
        _seed_stock(sites[:STOCKED_FACILITIES], progress)
    _seed_signing(progress)
    # After the seeding transaction: generation runs a short transaction per doctor.
    generated = slots_generate(today=today)
    progress(f"  slots: {generated.created} added for the next {settings.SLOT_HORIZON_DAYS} days")
    after = _counts()
    return [
        TableCount(label, after[label] - before[label], total) for label, total in after.items()
    ]


def _seed_formulary(progress: Progress) -> None:
    """The shipped formulary and interaction table (created or brought up to date)."""
    counts = formulary_load_seed()
    progress(f"  formulary: {counts['created']} drugs added, {counts['interactions']} interactions")


def _rng(seed: int, section: str) -> random.Random:
    # A stream per section: more facilities must not shift the patients drawn after them.
    return random.Random(f"{seed}:{section}")  # noqa: S311 - reproducible demo data, not secrets


def _counts() -> dict[str, int]:
    return {
        "hospitals": Hospital.objects.count(),
        "departments": Department.objects.count(),
        "doctors": DoctorProfile.objects.count(),
        "pharmacists": PharmacistProfile.objects.count(),
        "facilities": Facility.objects.count(),
        "terminals": Terminal.objects.count(),
        "staff memberships": StaffMembership.objects.count(),
        "users": User.objects.count(),
        "patients": Patient.objects.count(),
        "formulary drugs": Drug.objects.count(),
        "pharmacy stock": FacilityStock.objects.count(),
        "patient facility links": PatientFacility.objects.count(),
        "identity verifications": IdentityVerification.objects.count(),
        "weekly availability": WeeklyAvailability.objects.count(),
        "slots": Slot.objects.count(),
        "signing credentials": SigningCredential.objects.filter(
            status=CredentialStatus.ACTIVE
        ).count(),
    }


def _stored(model: type[models.Model], field: str, keys: Sequence[str]) -> dict[str, int]:
    """Key -> primary key of the rows already stored, looked up in chunks."""
    found: dict[str, int] = {}
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start : start + LOOKUP_CHUNK]
        rows = model._default_manager.filter(**{f"{field}__in": chunk}).values_list(field, "pk")
        found.update(rows)
    return found


def _insert(objs: Sequence[models.Model], *, label: str, planned: int, progress: Progress) -> None:
    if not objs:
        progress(f"  {label}: all {planned} present")
        return
    manager = type(objs[0])._default_manager
    for start in range(0, len(objs), BATCH_SIZE):
        manager.bulk_create(objs[start : start + BATCH_SIZE])
        progress(f"  {label}: {min(start + BATCH_SIZE, len(objs))}/{len(objs)} added")


def _insert_people(
    people: Sequence[tuple[User, UserCompanion]], *, label: str, progress: Progress
) -> dict[str, int]:
    """Insert missing users and their one-to-one row (profile or membership); username -> pk."""
    usernames = [user.username for user, _ in people]
    stored_users = _stored(User, "username", usernames)
    new_users = [user for user, _ in people if user.username not in stored_users]
    _insert(new_users, label=f"{label} users", planned=len(people), progress=progress)
    user_pks = _stored(User, "username", usernames)
    if not people:
        return user_pks
    companion_model = type(people[0][1])
    with_companion = _stored(companion_model, "user__username", usernames)
    new_companions = []
    for user, companion in people:
        if user.username not in with_companion:
            companion.user_id = user_pks[user.username]
            new_companions.append(companion)
    companion_label = str(companion_model._meta.verbose_name_plural)
    _insert(new_companions, label=companion_label, planned=len(people), progress=progress)
    return user_pks


def _surname(rng: random.Random) -> str:
    return rng.choices(list(data.SURNAME_WEIGHTS), weights=list(data.SURNAME_WEIGHTS.values()))[0]


def _given_name(rng: random.Random, sex: str) -> str:
    chars = data.MALE_GIVEN_CHARS if sex == Sex.MALE else data.FEMALE_GIVEN_CHARS
    # Roughly three in four people have a two-character given name.
    return "".join(rng.sample(chars, 2 if rng.random() < 0.75 else 1))


def _full_name(rng: random.Random, sex: str) -> str:
    return _surname(rng) + _given_name(rng, sex)


def _sex(rng: random.Random) -> str:
    return rng.choice((Sex.MALE, Sex.FEMALE))


def _mobile(rng: random.Random) -> str:
    """A mainland mobile number in E.164, passed through the registry's own validation."""
    return normalize_phone(f"+86{rng.choice(data.MOBILE_PREFIXES)}{rng.randrange(10**8):08d}")


def _seed_hospital(progress: Progress) -> list[Department]:
    hospital, created = Hospital.objects.get_or_create(
        code=data.HOSPITAL_CODE,
        defaults={
            "name": data.HOSPITAL_NAME,
            "name_en": data.HOSPITAL_NAME_EN,
            "address": data.HOSPITAL_ADDRESS,
        },
    )
    progress(f"  hospital {data.HOSPITAL_CODE}: {'added' if created else 'present'}")
    stored = set(hospital.departments.values_list("code", flat=True))
    new = [
        Department(
            hospital=hospital,
            code=spec.code,
            name=spec.name,
            name_en=spec.name_en,
            consultation_fee_fen=spec.consultation_fee_fen,
        )
        for spec in data.DEPARTMENTS
        if spec.code not in stored
    ]
    _insert(new, label="departments", planned=len(data.DEPARTMENTS), progress=progress)
    by_code = {department.code: department for department in hospital.departments.all()}
    return [by_code[spec.code] for spec in data.DEPARTMENTS]


def _seed_doctors(
    rng: random.Random,
    departments: Sequence[Department],
    password: str,
    today: datetime.date,
    progress: Progress,
    count: int = data.DOCTOR_COUNT,
) -> None:
    people: list[tuple[User, UserCompanion]] = []
    for index in range(1, count + 1):
        department = departments[(index - 1) % len(departments)]
        user = User(
            username=f"doctor{index:02d}",
            role=Role.DOCTOR,
            full_name=_full_name(rng, _sex(rng)),
            phone=_mobile(rng),
            password=password,
        )
        since = datetime.date(rng.randint(1995, 2019), rng.randint(1, 12), rng.randint(1, 28))
        title = rng.choice(
            next(t for last, t in data.DOCTOR_TITLES_BY_PRACTICE_START if since.year <= last)
        )
        recent_days = rng.randint(200, 900)
        if index > count - data.RECENTLY_LICENSED_DOCTORS:
            title = DoctorTitle.RESIDENT
            since = today - datetime.timedelta(days=recent_days)
        # 执业/资格证书编码 are 15 digits; category 2 is traditional Chinese medicine, 1 clinical.
        category = "2" if department.code == data.TCM_DEPARTMENT_CODE else "1"
        profile = DoctorProfile(
            department=department,
            licence_number=f"1{category}{data.HOSPITAL_REGION_CODE}{since.year}{index:03d}",
            qualification_number=(
                f"{since.year - 1}1{category}044{rng.randrange(1000):03d}{index:03d}"
            ),
            title=title,
            independent_practice_since=since,
        )
        people.append((user, profile))
    _insert_people(people, label="doctor", progress=progress)


def _seed_schedules(progress: Progress, count: int = data.DOCTOR_COUNT) -> None:
    """Weekday clinics with a lunch break for every doctor, Saturday mornings for some;
    doctors who already have a pattern keep it. (doctor39 and doctor40 get one too: the slot
    generator, not the demo data, keeps them off the booking list.)"""
    usernames = [f"doctor{index:02d}" for index in range(1, count + 1)]
    doctor_pks = _stored(DoctorProfile, "user__username", usernames)
    scheduled = set(WeeklyAvailability.objects.values_list("doctor_id", flat=True).distinct())
    planned = 0
    windows: list[WeeklyAvailability] = []
    for index, username in enumerate(usernames, start=1):
        week: list[tuple[int, Hours]] = [(weekday, CLINIC_HOURS) for weekday in WEEKDAYS]
        if index % SATURDAY_EVERY == 0:
            week.append((Weekday.SATURDAY, SATURDAY_HOURS))
        doctor_pk = doctor_pks[username]
        for weekday, hours in week:
            for start, end in hours:
                planned += 1
                if doctor_pk not in scheduled:
                    windows.append(
                        WeeklyAvailability(
                            doctor_id=doctor_pk, weekday=weekday, starts_at=start, ends_at=end
                        )
                    )
    _insert(windows, label="weekly availability", planned=planned, progress=progress)


def _seed_pharmacists(
    rng: random.Random, password: str, progress: Progress, count: int = data.PHARMACIST_COUNT
) -> None:
    people: list[tuple[User, UserCompanion]] = []
    for index in range(1, count + 1):
        user = User(
            username=f"pharmacist{index:02d}",
            role=Role.PHARMACIST,
            full_name=_full_name(rng, _sex(rng)),
            phone=_mobile(rng),
            password=password,
        )
        registered = rng.randint(2000, 2020)
        profile = PharmacistProfile(
            licence_number=f"4401{registered}{index:03d}{rng.randrange(10**4):04d}",
            title=data.PHARMACIST_TITLES[(index - 1) % len(data.PHARMACIST_TITLES)],
        )
        people.append((user, profile))
    _insert_people(people, label="pharmacist", progress=progress)


def _seed_operations(password: str, progress: Progress) -> None:
    _, created = User.objects.get_or_create(
        username=data.OPERATIONS_USERNAME,
        defaults={
            "role": Role.OPERATIONS,
            "full_name": "运营管理员",
            "is_staff": True,  # the Django admin is the operations back office
            "is_superuser": True,
            "password": password,
        },
    )
    progress(f"  operations user: {'added' if created else 'present'}")


def _seed_signing(progress: Progress) -> None:
    """The platform CA roots, and a signing credential under the printed demo PIN for every demo
    doctor and pharmacist without one. Runs after the seeding transaction: issuing is a service
    with its own; one scrypt derivation covers every new credential (they share the PIN)."""
    created = sum(result.created for result in pki_init())
    progress(f"  platform CA: {created} added" if created else "  platform CA: present")
    usernames = [f"doctor{index:02d}" for index in range(1, data.DOCTOR_COUNT + 1)] + [
        f"pharmacist{index:02d}" for index in range(1, data.PHARMACIST_COUNT + 1)
    ]
    holders = SigningCredential.objects.filter(status=CredentialStatus.ACTIVE)
    missing = list(
        User.objects.filter(username__in=usernames, is_active=True)
        .exclude(pk__in=holders.values("user_id"))
        .order_by("username")
    )
    issued = credential_issue_many(users=missing, pin=data.DEMO_SIGNING_PIN, actor=SYSTEM_ACTOR)
    if issued:
        progress(f"  signing credentials: {len(issued)} added")
    else:
        progress(f"  signing credentials: all {len(usernames)} present")
    progress(f"  signing PIN of every demo doctor and pharmacist: {data.DEMO_SIGNING_PIN}")


def _facility_fields(rng: random.Random, city: data.City, district: str) -> dict[str, str]:
    """Values for the name patterns; Dongguan and Zhongshan towns are named after the city."""
    brand, brand_operator = rng.choice(data.PHARMACY_CHAINS)
    return {
        "city": city.name,
        "city_short": city.short_name,
        "county": city.name if district.endswith(("镇", "街道")) else district,
        "road": rng.choice(data.ROADS),
        "place": rng.choice(data.PLACES),
        "brand": brand,
        "brand_operator": brand_operator,
        "industry": rng.choice(data.INDUSTRIES),
        "unit": str(rng.randint(31001, 96999)),
    }


def _seed_network(rng: random.Random, count: int, password: str, progress: Progress) -> list[Site]:
    """Facilities, one terminal and one staff member each; the sites in facility order."""
    kinds = list(data.FACILITY_KINDS)
    kind_weights = [kind.weight for kind in data.FACILITY_KINDS.values()]
    facilities: list[Facility] = []
    staff: list[tuple[User, StaffMembership]] = []
    for index in range(1, count + 1):
        city = data.CITIES[(index - 1) % len(data.CITIES)]
        # The first facilities take each type once, so even a small network shows them all.
        drawn_type = rng.choices(kinds, weights=kind_weights)[0]
        facility_type = kinds[index - 1] if index <= len(kinds) else drawn_type
        kind = data.FACILITY_KINDS[facility_type]
        district, _ = rng.choice(city.districts)
        fields = _facility_fields(rng, city, district)
        name_pattern, operator_pattern = rng.choice(kind.patterns)
        facilities.append(
            Facility(
                code=f"FAC{index:05d}",
                name=name_pattern.format(**fields),
                facility_type=facility_type,
                province=data.PROVINCE,
                city=city.name,
                district=district,
                address_detail=f"{fields['road']}{rng.randint(1, 399)}号",
                operator=operator_pattern.format(**fields),
                is_licensed_medical_institution=kind.licensed_medical_institution,
            )
        )
        user = User(
            username=f"staff{index:05d}",
            role=Role.CLINIC_STAFF,
            full_name=_full_name(rng, _sex(rng)),
            phone=_mobile(rng),
            password=password,
        )
        staff.append((user, StaffMembership(position=kind.staff_position)))

    codes = [facility.code for facility in facilities]
    stored = _stored(Facility, "code", codes)
    new_facilities = [facility for facility in facilities if facility.code not in stored]
    _insert(new_facilities, label="facilities", planned=count, progress=progress)
    pk_by_code = _stored(Facility, "code", codes)
    facility_pks = [pk_by_code[code] for code in codes]

    _seed_terminals(facility_pks, progress)
    for (_, membership), facility_pk in zip(staff, facility_pks, strict=True):
        membership.facility_id = facility_pk
    user_pks = _insert_people(list(staff), label="staff", progress=progress)
    return [
        Site(facility_pk=facility_pk, staff_pk=user_pks[user.username])
        for (user, _), facility_pk in zip(staff, facility_pks, strict=True)
    ]


def _seed_stock(sites: Sequence[Site], progress: Progress) -> None:
    """DEMO_STOCK_PACKS of every prescribable drug on the shelves of the pharmacies among
    `sites`, each received with a stock movement; shelves already stocked are left alone."""
    pharmacies = list(
        Facility.objects.filter(
            pk__in=[site.facility_pk for site in sites], facility_type=FacilityType.PHARMACY
        ).values_list("pk", flat=True)
    )
    drugs = list(
        Drug.objects.filter(is_active=True, online_prescribable=True).values_list("pk", flat=True)
    )
    stocked = set(
        FacilityStock.objects.filter(facility_id__in=pharmacies).values_list(
            "facility_id", "drug_id"
        )
    )
    missing = [(f, d) for f in pharmacies for d in drugs if (f, d) not in stocked]
    now = timezone.now()
    _insert(
        [FacilityStock(facility_id=f, drug_id=d, quantity=DEMO_STOCK_PACKS) for f, d in missing],
        label="pharmacy stock",
        planned=len(pharmacies) * len(drugs),
        progress=progress,
    )
    _insert(
        [
            StockMovement(
                facility_id=f,
                drug_id=d,
                change=DEMO_STOCK_PACKS,
                quantity_after=DEMO_STOCK_PACKS,
                reason=StockMovementReason.RECEIVED,
                note="demo stock",
                actor_role=SYSTEM_ACTOR.role,
                occurred_at=now,
            )
            for f, d in missing
        ],
        label="stock movements",
        planned=len(pharmacies) * len(drugs),
        progress=progress,
    )


def _seed_terminals(facility_pks: Sequence[int], progress: Progress) -> None:
    """One offline terminal per facility. Only the first has a known (printed) secret."""
    now = timezone.now()
    serials = [f"T{index:05d}" for index in range(1, len(facility_pks) + 1)]
    stored = _stored(Terminal, "serial", serials)
    new = [
        Terminal(
            serial=serial,
            facility_id=facility_pk,
            status=TerminalStatus.OFFLINE,
            credential_hash=credential_digest(
                data.DEMO_TERMINAL_SECRET if index == 0 else secrets.token_urlsafe(32)
            ),
            credential_issued_at=now,
        )
        for index, (serial, facility_pk) in enumerate(zip(serials, facility_pks, strict=True))
        if serial not in stored
    ]
    _insert(new, label="terminals", planned=len(serials), progress=progress)


def _region_in_use(code: str, year: int) -> bool:
    """stdnum's rule: the code existed in the birth year. Stricter than the registry (which takes
    a code from any period), so demo numbers pass both it and `stdnum.cn.ric.validate`."""
    try:
        ric.get_birth_place(resident_id_with_check_digit(f"{code}{year}0101001"))
    except StdnumValidationError:
        return False
    return True


def _resident_id(
    rng: random.Random,
    *,
    child: bool,
    sex: str,
    taken: set[str],
    in_use: dict[tuple[str, int], bool],
) -> ParsedIdentity:
    """A new valid resident ID: a Guangdong code stdnum accepts for the birth year, the sex's
    parity in the 17th digit, and the check digit; parsed by the registry's own validator."""
    first = FIRST_CHILD_BIRTH_DATE if child else FIRST_BIRTH_DATE
    birth_date = first + datetime.timedelta(days=rng.randint(0, (LAST_BIRTH_DATE - first).days))
    parity = "13579" if sex == Sex.MALE else "02468"
    while True:
        # Draw until the code fits the year (memoised: stdnum's lookup is the slow part).
        code = rng.choice(REGION_CODES)
        key = (code, birth_date.year)
        if key not in in_use:
            in_use[key] = _region_in_use(code, birth_date.year)
        if not in_use[key]:
            continue
        order = f"{rng.randrange(100):02d}{rng.choice(parity)}"
        number = resident_id_with_check_digit(f"{code}{birth_date:%Y%m%d}{order}")
        if number not in taken:
            taken.add(number)
            return parse_resident_id(number)


def _age(birth_date: datetime.date, on: datetime.date) -> int:
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def _seed_patients(
    rng: random.Random,
    count: int,
    sites: Sequence[Site],
    today: datetime.date,
    progress: Progress,
) -> None:
    now = timezone.now()
    taken: set[str] = set()
    in_use: dict[tuple[str, int], bool] = {}
    planned: list[tuple[Patient, Site, str | None]] = []
    for index in range(count):
        sex = _sex(rng)
        identity = _resident_id(
            rng,
            child=index % CHILD_EVERY == CHILD_EVERY - 1,
            sex=sex,
            taken=taken,
            in_use=in_use,
        )
        # Resident IDs always carry both; the sex is the parity drawn into the 17th digit.
        assert identity.birth_date is not None
        assert identity.sex == sex
        surname = _surname(rng)
        phone = _mobile(rng)
        allergies = rng.sample(data.ALLERGIES, 1) if rng.random() < 0.15 else []
        born = identity.birth_date.year
        chronic_share = 0.6 if born < 1985 else 0.1 if born < 2006 else 0.0
        chronic = (
            rng.sample(data.CHRONIC_CONDITIONS, rng.randint(1, 2))
            if rng.random() < chronic_share
            else []
        )
        # Guardian values are drawn for everyone so the draws do not depend on today's date.
        relationship = rng.choice(data.GUARDIAN_RELATIONSHIPS)
        guardian_is_male = relationship in ("父亲", "祖父")
        guardian_name = (
            surname + _given_name(rng, Sex.MALE)
            if guardian_is_male
            else _full_name(rng, Sex.FEMALE)
        )
        # Drawn over a fixed range, so a network smaller than that does not shift later draws.
        site = sites[rng.randrange(PATIENT_FACILITIES) % len(sites)]
        verified = rng.random() < 0.9
        method = rng.choices(
            (VerificationMethod.ID_CARD_READER, VerificationMethod.DOCUMENT_IN_PERSON), (85, 15)
        )[0]
        needs_guardian = _age(identity.birth_date, today) < GUARDIAN_REQUIRED_UNDER_YEARS
        patient = Patient(
            name=surname + _given_name(rng, sex),
            id_type=identity.id_type,
            birth_date=identity.birth_date,
            sex=sex,
            phone=phone,
            allergies=allergies,
            chronic_conditions=chronic,
            guardian_name=guardian_name if needs_guardian else "",
            guardian_relationship=relationship if needs_guardian else "",
            guardian_phone=phone if needs_guardian else "",  # a small child's phone is the adult's
            identity_verified_at=now if verified else None,
            created_by_id=site.staff_pk,
            **patient_identity_columns(id_type=identity.id_type, number=identity.number),
        )
        planned.append((patient, site, method if verified else None))

    stored = _stored(Patient, "id_number_hash", [p.id_number_hash for p, _, _ in planned])
    new = [(p, site, method) for p, site, method in planned if p.id_number_hash not in stored]
    _insert([p for p, _, _ in new], label="patients", planned=count, progress=progress)
    if not new:
        return  # links and verifications were made with the patients
    links = [PatientFacility(patient=p, facility_id=site.facility_pk) for p, site, _ in new]
    _insert(links, label="patient facility links", planned=len(links), progress=progress)
    verifications = [
        IdentityVerification(
            patient=p, verified_by_id=site.staff_pk, facility_id=site.facility_pk, method=method
        )
        for p, site, method in new
        if method is not None
    ]
    _insert(
        verifications,
        label="identity verifications",
        planned=len(verifications),
        progress=progress,
    )
