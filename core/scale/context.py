"""What every batch reads: the network as stored, the slot spaces of the departments, the
regimens checked against the prescribing rules, and the signers' unlocked keys.

Loaded once per process (before the worker processes fork, so they share it); nothing here
changes while batches run.
"""

import datetime
from dataclasses import dataclass

from django.conf import settings

from accounts.models import DoctorProfile, PharmacistProfile, User
from clinics.models import Facility, StaffMembership, Terminal
from consultations.models import Weekday, WeeklyAvailability
from core.demo import data as demo
from core.scale import data
from core.scale.network import credential_times
from core.scale.numbering import ResidentIdSpace, SlotSpace
from patients.consents import consent_text_sha256
from patients.models import ConsentTemplate, Patient
from prescriptions import rules
from prescriptions.models import Drug
from signing.algorithms import SignatureAlgorithm, get_algorithm
from signing.keystore import PinOpener
from signing.models import SigningCredential
from signing.services import credential_key_context
from terminology.models import Icd10Code

HISTORY_DAYS = 730
# Patients are registered up to 60 days before their first booking, itself up to 10 days before
# the history starts: everyone is born before that.
REGISTRATION_LEAD = datetime.timedelta(days=75)
DAYS_SUPPLY_CHOICES = ((7, 50), (14, 30), (28, 20))  # (days, weight)


@dataclass(frozen=True)
class Doctor:
    profile: DoctorProfile  # with user and department, as clinical_content reads them
    global_index: int  # in the whole network's doctor list (prescription numbers)

    @property
    def pk(self) -> int:
        return self.profile.pk

    @property
    def user_pk(self) -> int:
        return self.profile.user_id


@dataclass(frozen=True)
class Site:
    facility_pk: int
    staff_pk: int
    terminal_pk: int | None
    province: str
    city: str
    district: str


@dataclass(frozen=True)
class Key:
    private_key: bytes
    certificate_pem: str
    serial: str
    algorithm: SignatureAlgorithm


@dataclass(frozen=True)
class Signer:
    first: Key
    renewed: Key
    renewed_at: datetime.datetime

    def key_at(self, moment: datetime.datetime) -> Key:
        return self.first if moment < self.renewed_at else self.renewed


@dataclass(frozen=True)
class Regimen:
    items: tuple[rules.ItemSpec, ...]  # with the quantity the rules compute
    supply_reason: str
    cold_chain: bool
    allergies: frozenset[str]  # patient allergies that would raise a warning


@dataclass(frozen=True)
class Department:
    code: str
    pk: int
    name: str
    fee_fen: int
    doctors: tuple[Doctor, ...]  # schedulable for the whole history
    slots: SlotSpace
    conditions: tuple[data.Condition, ...]


@dataclass
class Context:
    seed: int
    history_start: datetime.date
    history_until: datetime.date
    days: tuple[datetime.date, ...]
    departments: dict[str, Department]
    # Residue i mod 100 → (department, rank among the department's residues).
    residues: tuple[tuple[str, int], ...]
    shares: dict[str, int]
    sites: tuple[Site, ...]
    pharmacists: tuple[PharmacistProfile, ...]
    signers: dict[int, Signer]  # user pk → keys
    regimens: dict[tuple[str, str, int], tuple[Regimen, ...]]  # (dept, icd10, days) → regimens
    icd10: dict[str, Icd10Code]
    consent_template_pk: int
    consent_sha256: str
    operations_pk: int
    resident_ids: ResidentIdSpace

    def department_of(self, index: int) -> tuple[Department, int]:
        """Consultation `index`'s department and its index among that department's ones."""
        code, rank = self.residues[index % 100]
        return self.departments[code], index // 100 * self.shares[code] + rank

    def department_count(self, code: str, consultations: int) -> int:
        full, rest = divmod(consultations, 100)
        return full * self.shares[code] + sum(
            1 for residue in range(rest) if self.residues[residue][0] == code
        )


def _shares(available: list[str]) -> dict[str, int]:
    """The departments' shares of 100, among the departments that have doctors (largest
    remainder), so a small network still sees every consultation somewhere."""
    weights = {code: data.DEPARTMENT_SHARES[code] for code in available}
    total = sum(weights.values())
    exact = {code: weight * 100 / total for code, weight in weights.items()}
    shares = {code: int(value) for code, value in exact.items()}
    left = 100 - sum(shares.values())
    for code in sorted(exact, key=lambda c: (shares[c] - exact[c], c))[:left]:
        shares[code] += 1
    return shares


def _residues(shares: dict[str, int]) -> tuple[tuple[str, int], ...]:
    """Spread each department's residues over 0..99 (not in runs), each with its rank."""
    slots: list[tuple[float, str]] = []
    for code, share in shares.items():
        slots.extend(((position + 0.5) / share, code) for position in range(share))
    ranks: dict[str, int] = {}
    table = []
    for _, code in sorted(slots):
        table.append((code, ranks.get(code, 0)))
        ranks[code] = ranks.get(code, 0) + 1
    return tuple(table)


def _regimens(drugs: dict[str, Drug]) -> dict[tuple[str, str, int], tuple[Regimen, ...]]:
    """Every regimen at every days' supply, through the prescribing rules: quantities from
    check_items, and no finding (duplicate, interaction, dose) for a patient without allergies."""
    found: dict[tuple[str, str, int], tuple[Regimen, ...]] = {}
    nobody = Patient(allergies=[])
    for department, conditions in data.CONDITIONS.items():
        for condition in conditions:
            for days, _ in DAYS_SUPPLY_CHOICES:
                regimens = []
                for doses in condition.regimens:
                    items = [
                        rules.ItemSpec(
                            drug=drugs[dose.drug],
                            dose=dose.dose,
                            frequency=dose.frequency,
                            route=drugs[dose.drug].default_route,
                            days_supply=days,
                            instructions=dose.instructions,
                        )
                        for dose in doses
                    ]
                    reason = data.SUPPLY_REASONS.get(days, "")
                    spec = rules.DraftSpec(items=items, supply_reason=reason)
                    quantities = rules.check_items(spec)
                    findings = rules.findings(nobody, items)
                    if findings:
                        raise ValueError(f"{condition.icd10} regimen {doses}: {findings}")
                    allergies = frozenset(
                        allergy
                        for allergy in demo.ALLERGIES
                        if rules.findings(Patient(allergies=[allergy]), items)
                    )
                    regimens.append(
                        Regimen(
                            items=tuple(
                                rules.ItemSpec(
                                    drug=item.drug,
                                    dose=item.dose,
                                    frequency=item.frequency,
                                    route=item.route,
                                    days_supply=days,
                                    quantity=quantity,
                                    instructions=item.instructions,
                                )
                                for item, quantity in zip(items, quantities, strict=True)
                            ),
                            supply_reason=reason,
                            cold_chain=any(item.drug.cold_chain for item in items),
                            allergies=allergies,
                        )
                    )
                found[(department, condition.icd10, days)] = tuple(regimens)
    return found


def _signers(first_issued: datetime.datetime, renewed_at: datetime.datetime) -> dict[int, Signer]:
    """Each signer's two generated credentials, unlocked once (one scrypt per issue batch)."""
    opener = PinOpener(demo.DEMO_SIGNING_PIN)
    day = datetime.timedelta(days=1)
    keys: dict[int, dict[str, Key]] = {}
    credentials = SigningCredential.objects.filter(
        not_before__gte=first_issued - day, not_before__lte=renewed_at + day
    ).order_by("not_before")
    for credential in credentials:
        which = "first" if credential.not_before < renewed_at - day else "renewed"
        keys.setdefault(credential.user_id, {})[which] = Key(
            private_key=opener.open(
                credential.private_key_sealed,
                context=credential_key_context(credential.certificate_serial),
            ),
            certificate_pem=credential.certificate_pem,
            serial=credential.certificate_serial,
            algorithm=get_algorithm(credential.algorithm),
        )
    return {
        user_pk: Signer(first=pair["first"], renewed=pair["renewed"], renewed_at=renewed_at)
        for user_pk, pair in keys.items()
        if "first" in pair and "renewed" in pair
    }


def _sites(facilities: int) -> tuple[Site, ...]:
    codes = [f"FAC{index:05d}" for index in range(1, facilities + 1)]
    rows = {
        code: (pk, province, city, district)
        for code, pk, province, city, district in Facility.objects.filter(code__in=codes)
        .values_list("code", "pk", "province", "city", "district")
        .iterator(chunk_size=5000)
    }
    staff: dict[int, int] = {}
    for facility_pk, user_pk in StaffMembership.objects.order_by("-pk").values_list(
        "facility_id", "user_id"
    ):
        staff[facility_pk] = user_pk  # the first member wins (ordered newest first)
    terminals: dict[int, int] = {}
    for facility_pk, terminal_pk in Terminal.objects.order_by("-pk").values_list(
        "facility_id", "pk"
    ):
        terminals[facility_pk] = terminal_pk
    sites = []
    for code in codes:
        pk, province, city, district = rows[code]
        sites.append(Site(pk, staff[pk], terminals.get(pk), province, city, district))
    return tuple(sites)


def context_load(
    *,
    doctors: int,
    facilities: int,
    seed: int,
    history_until: datetime.date,
) -> Context:
    history_start = history_until - datetime.timedelta(days=HISTORY_DAYS)
    days = tuple(history_start + datetime.timedelta(days=n) for n in range(HISTORY_DAYS))
    usernames = [f"doctor{index:02d}" for index in range(1, doctors + 1)]
    profiles = {
        profile.user.username: profile
        for profile in DoctorProfile.objects.filter(user__username__in=usernames).select_related(
            "user", "department"
        )
    }
    saturday = set(
        WeeklyAvailability.objects.filter(weekday=Weekday.SATURDAY).values_list(
            "doctor_id", flat=True
        )
    )
    by_department: dict[str, list[Doctor]] = {}
    for global_index, username in enumerate(usernames):
        profile = profiles[username]
        if profile.can_be_scheduled(on=history_start):
            doctor = Doctor(profile=profile, global_index=global_index)
            by_department.setdefault(profile.department.code, []).append(doctor)
    departments: dict[str, Department] = {}
    for code, members in sorted(by_department.items()):
        department = members[0].profile.department
        departments[code] = Department(
            code=code,
            pk=department.pk,
            name=department.name,
            fee_fen=department.consultation_fee_fen,
            doctors=tuple(members),
            slots=SlotSpace.build(
                doctors=len(members),
                saturday_doctors=[i for i, d in enumerate(members) if d.pk in saturday],
                days=days,
                seed=seed,
                department=code,
            ),
            conditions=data.CONDITIONS[code],
        )
    if not departments:
        raise ValueError("No doctor can be scheduled: the history needs at least one.")
    shares = _shares(list(departments))
    drugs = {drug.code: drug for drug in Drug.objects.all()}
    icd_codes = {c.icd10 for conditions in data.CONDITIONS.values() for c in conditions}
    template = (
        ConsentTemplate.objects.filter(language=settings.LANGUAGE_CODE, is_active=True)
        .order_by("-published_at")
        .first()
    )
    if template is None:
        raise ValueError("No active consent text: run the migrations first.")
    first_issued, renewed_at = credential_times(history_start)
    return Context(
        seed=seed,
        history_start=history_start,
        history_until=history_until,
        days=days,
        departments=departments,
        residues=_residues(shares),
        shares=shares,
        sites=_sites(facilities),
        pharmacists=tuple(
            PharmacistProfile.objects.filter(user__is_active=True)
            .select_related("user")
            .order_by("pk")
        ),
        signers=_signers(first_issued, renewed_at),
        regimens=_regimens(drugs),
        icd10={code.code: code for code in Icd10Code.objects.filter(code__in=icd_codes)},
        consent_template_pk=template.pk,
        consent_sha256=consent_text_sha256(template.text),
        operations_pk=User.objects.get(username=demo.OPERATIONS_USERNAME).pk,
        resident_ids=ResidentIdSpace.build(
            last_birth_year=(history_start - REGISTRATION_LEAD).year - 1, seed=seed
        ),
    )
