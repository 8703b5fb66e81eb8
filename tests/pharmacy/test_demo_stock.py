"""`seed_demo` stocks the demo pharmacies, once."""

import io

import pytest
from django.core.management import call_command
from pytest_django import Settings

from clinics.models import Facility, FacilityType
from core.demo.builder import DEMO_STOCK_PACKS
from pharmacy.models import FacilityStock, StockMovement
from prescriptions.models import Drug


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.django_db
def test_demo_pharmacies_have_the_formulary_on_their_shelves_once() -> None:
    call_command("seed_demo", facilities=10, patients=5, stdout=io.StringIO())

    pharmacies = set(
        Facility.objects.filter(facility_type=FacilityType.PHARMACY).values_list("pk", flat=True)
    )
    prescribable = Drug.objects.filter(is_active=True, online_prescribable=True).count()
    assert pharmacies
    assert prescribable > 0
    assert set(FacilityStock.objects.values_list("facility_id", flat=True)) == pharmacies
    assert FacilityStock.objects.count() == len(pharmacies) * prescribable
    assert set(FacilityStock.objects.values_list("quantity", flat=True)) == {DEMO_STOCK_PACKS}
    assert StockMovement.objects.filter(reason="received").count() == FacilityStock.objects.count()

    call_command("seed_demo", facilities=10, patients=5, stdout=io.StringIO())

    assert FacilityStock.objects.count() == len(pharmacies) * prescribable
    assert StockMovement.objects.count() == len(pharmacies) * prescribable
