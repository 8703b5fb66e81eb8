"""The network a scale history happens in: built with seed_demo's own builders (the same
hospital, formulary, facility mix and cities), at the requested size, plus a platform CA and
signing credentials old enough to have signed two years of prescriptions.

Signers hold two credentials, as they would after two years: the first issued the day before
the history starts, the second a year later (which supersedes the first; signatures made before
that stay valid). Both are ECDSA P-256 under the demo signing PIN.
"""

import datetime
from collections.abc import Callable

from django.contrib.auth.hashers import make_password
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from accounts.models import DoctorProfile, PharmacistProfile, User
from core.actors import SYSTEM_ACTOR
from core.dates import local_day_start
from core.demo import data as demo
from core.demo.builder import (
    _rng,
    _seed_doctors,
    _seed_formulary,
    _seed_hospital,
    _seed_network,
    _seed_operations,
    _seed_pharmacists,
    _seed_schedules,
)
from signing.algorithms import ECDSA_P256_SHA256
from signing.models import CertificateAuthority, CredentialStatus, SigningCredential
from signing.pki import ca_ensure
from signing.services import credential_issue_many

Progress = Callable[[str], None]

# One document stands for every generated prior-diagnosis record (a scan of an outpatient
# record); the rows point at it so the audited download works.
EVIDENCE_DOCUMENT = "evidence/scale/prior-diagnosis-record.pdf"
EVIDENCE_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
PHARMACISTS_PER_DOCTORS = 25  # one pharmacist reviews for about 25 doctors
CREDENTIAL_RENEWAL = datetime.timedelta(days=365)


def pharmacist_count(doctors: int) -> int:
    return max(demo.PHARMACIST_COUNT, doctors // PHARMACISTS_PER_DOCTORS)


def credential_times(history_start: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """When the first and the renewed credentials were issued."""
    first = local_day_start(history_start) - datetime.timedelta(days=1)
    return first, first + CREDENTIAL_RENEWAL


def network_build(
    *,
    doctors: int,
    facilities: int,
    seed: int,
    history_start: datetime.date,
    history_until: datetime.date,
    progress: Progress,
) -> None:
    """Everything the history needs before its first consultation; safe to run again. The
    last doctors are recently licensed as of `history_until`, as in the demo set."""
    password = make_password(demo.DEMO_PASSWORD)
    with transaction.atomic(durable=True):
        departments = _seed_hospital(progress)
        _seed_formulary(progress)
        _seed_doctors(
            _rng(seed, "doctors"), departments, password, history_until, progress, count=doctors
        )
        _seed_schedules(progress, count=doctors)
        _seed_pharmacists(
            _rng(seed, "pharmacists"), password, progress, count=pharmacist_count(doctors)
        )
        _seed_operations(password, progress)
        _seed_network(_rng(seed, "network"), facilities, password, progress)
    if not default_storage.exists(EVIDENCE_DOCUMENT):
        default_storage.save(EVIDENCE_DOCUMENT, ContentFile(EVIDENCE_PDF))
    _signing(history_start, progress)


def _signing(history_start: datetime.date, progress: Progress) -> None:
    first, renewal = credential_times(history_start)
    authority = CertificateAuthority.objects.filter(
        algorithm=ECDSA_P256_SHA256, is_active=True
    ).first()
    ca_time = first - datetime.timedelta(days=1)
    if authority is None or authority.not_before > ca_time:
        # A root made today cannot have certified signatures from two years ago: a root dated
        # before the history takes over issuing (an existing one stays trusted).
        ca_ensure(algorithm=ECDSA_P256_SHA256, force_new=authority is not None, now=ca_time)
        progress("  platform CA (ECDSA P-256): dated before the history")
    signers = list(
        User.objects.filter(
            pk__in=list(DoctorProfile.objects.values_list("user_id", flat=True))
            + list(PharmacistProfile.objects.values_list("user_id", flat=True)),
            is_active=True,
        ).order_by("pk")
    )
    early = set(
        SigningCredential.objects.filter(not_before__lte=first).values_list("user_id", flat=True)
    )
    issued = credential_issue_many(
        users=[user for user in signers if user.pk not in early],
        pin=demo.DEMO_SIGNING_PIN,
        algorithm=ECDSA_P256_SHA256,
        actor=SYSTEM_ACTOR,
        now=first,
    )
    renewed = set(
        SigningCredential.objects.filter(
            status=CredentialStatus.ACTIVE, not_before__gte=renewal - datetime.timedelta(days=1)
        ).values_list("user_id", flat=True)
    )
    reissued = credential_issue_many(
        users=[user for user in signers if user.pk not in renewed],
        pin=demo.DEMO_SIGNING_PIN,
        algorithm=ECDSA_P256_SHA256,
        actor=SYSTEM_ACTOR,
        now=renewal,
    )
    progress(
        f"  signing credentials: {len(issued)} issued {first:%Y-%m-%d}, "
        f"{len(reissued)} renewed {renewal:%Y-%m-%d} (PIN {demo.DEMO_SIGNING_PIN})"
    )
