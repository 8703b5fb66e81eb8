"""Formulary CSV import and export for operations."""

import io

import pytest
from django.core.management import call_command

from core.exceptions import DomainError
from prescriptions.models import ControlClass, Drug, DrugInteraction
from prescriptions.services import formulary

pytestmark = pytest.mark.django_db


def test_the_shipped_formulary_loads_with_every_control_class() -> None:
    counts = formulary.formulary_load_seed()
    assert counts["created"] >= 120
    assert counts["interactions"] >= 15
    classes = set(Drug.objects.values_list("control_class", flat=True))
    assert classes == set(ControlClass.values)
    assert not Drug.objects.exclude(control_class="none").filter(online_prescribable=True).exists()
    # Loading again changes nothing.
    again = formulary.formulary_load_seed()
    assert (again["created"], again["updated"]) == (0, counts["created"])


def test_export_then_import_round_trips() -> None:
    formulary.formulary_load_seed()
    columns = list(formulary.COLUMNS)
    before = list(Drug.objects.order_by("code").values(*columns))
    exported = io.StringIO()
    count = formulary.formulary_export(stream=exported)
    assert count == len(before)
    Drug.objects.update(price_fen=1)
    exported.seek(0)
    assert formulary.formulary_import(stream=exported) == {"created": 0, "updated": count}
    assert list(Drug.objects.order_by("code").values(*columns)) == before


def test_a_bad_row_imports_nothing() -> None:
    header = ",".join(formulary.COLUMNS)
    good = "T-1,甲,A,C08CA01,tablet,5 mg,mg,5,28,盒,2350,none,1,0,1,10,oral,"
    bad = "T-2,乙,B,C08CA01,tablet,5 mg,mg,5,28,盒,2350,opium,1,0,1,10,oral,"
    with pytest.raises(DomainError) as caught:
        formulary.formulary_import(stream=io.StringIO(f"{header}\n{good}\n{bad}\n"))
    assert caught.value.code == "formulary_invalid"
    assert "Line 3" in caught.value.message
    assert Drug.objects.count() == 0


def test_missing_columns_are_refused() -> None:
    with pytest.raises(DomainError) as caught:
        formulary.formulary_import(stream=io.StringIO("code,name_zh\nX,甲\n"))
    assert caught.value.code == "formulary_invalid"
    assert Drug.objects.count() == 0


def test_commands(tmp_path) -> None:
    call_command("import_formulary", verbosity=0)
    target = tmp_path / "formulary.csv"
    call_command("export_formulary", str(target))
    assert target.read_text(encoding="utf-8").splitlines()[0] == ",".join(formulary.COLUMNS)
    assert DrugInteraction.objects.count() >= 15
