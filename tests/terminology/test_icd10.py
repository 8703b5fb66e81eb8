"""The seeded ICD-10 table, its CSV loader and command, and the search API."""

import csv
import io

import pytest
from django.core.management import CommandError, call_command

from terminology.models import Icd10Code
from terminology.services import (
    ICD10_CSV,
    Icd10DataError,
    icd10_chapter,
    icd10_load,
    icd10_read_csv,
)
from tests.factories import (
    api_client,
    make_doctor,
    make_staff,
    make_terminal,
    make_user,
    terminal_client,
)

pytestmark = pytest.mark.django_db

LIST = "/api/v1/icd10/"


def write_csv(path, rows):
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["code", "chapter", "is_chronic", "name_zh", "name_en"])
        writer.writerows(rows)
    return path


# --- the seeded table --------------------------------------------------------------------------


def test_migration_seeds_the_whole_csv():
    rows = icd10_read_csv()
    assert len(rows) >= 200
    assert Icd10Code.objects.count() == len(rows)
    assert set(Icd10Code.objects.values_list("code", flat=True)) == {row.code for row in rows}
    assert not Icd10Code.objects.filter(is_active=False).exists()


@pytest.mark.parametrize(
    ("code", "name_zh", "name_en", "chapter"),
    [
        ("I10", "特发性（原发性）高血压", "Essential (primary) hypertension", "IX"),
        ("E11.9", "2型糖尿病不伴有并发症", "Type 2 diabetes mellitus without complications", "IV"),
        ("J44.9", "慢性阻塞性肺病", "Chronic obstructive pulmonary disease, unspecified", "X"),
        (
            "K21.9",
            "胃食管反流病不伴有食管炎",
            "Gastro-oesophageal reflux disease without oesophagitis",
            "XI",
        ),
        ("N18.3", "慢性肾脏病3期", "Chronic kidney disease, stage 3", "XIV"),
        (
            "G47.0",
            "入睡和维持睡眠障碍[失眠症]",
            "Disorders of initiating and maintaining sleep [insomnias]",
            "VI",
        ),
        ("B18.1", "慢性乙型病毒性肝炎", "Chronic viral hepatitis B without delta-agent", "I"),
        ("N40", "前列腺增生", "Hyperplasia of prostate", "XIV"),
        ("L70.0", "寻常痤疮", "Acne vulgaris", "XII"),
        ("H93.1", "耳鸣", "Tinnitus", "VIII"),
    ],
)
def test_common_codes_carry_both_names_and_their_chapter(code, name_zh, name_en, chapter):
    row = Icd10Code.objects.get(code=code)
    assert (row.name_zh, row.name_en, row.chapter) == (name_zh, name_en, chapter)


def test_the_issue_list_of_follow_up_conditions_is_covered():
    wanted = [
        "I10", "I11.9", "E11.2", "E11.9", "E78.0", "E78.5", "J44.1", "J44.9", "J45.9", "K29.5",
        "K21.9", "N18.5", "M10.9", "M17.9", "M81.0", "E03.9", "I25.1", "I50.9", "I48.0",
        "I69.3", "F32.9", "F41.1", "G47.0", "G40.9", "G20", "G43.0", "J30.4", "L20.9", "L30.9",
        "L40.0", "L70.0", "J06.9", "J20.9", "J40", "N40", "N41.1", "B18.1", "K76.0", "D50.9",
    ]  # fmt: skip
    assert set(Icd10Code.objects.filter(code__in=wanted).values_list("code", flat=True)) == set(
        wanted
    )


def test_chronic_flag_separates_follow_up_diseases_from_acute_ones():
    chronic = dict(Icd10Code.objects.values_list("code", "is_chronic"))
    assert all(chronic[code] for code in ["I10", "E11.9", "J44.9", "N18.3", "M81.0", "G20"])
    assert not any(chronic[code] for code in ["J06.9", "J20.9", "J00", "R05"])


def test_every_row_sits_in_the_chapter_its_code_belongs_to():
    for code, chapter in Icd10Code.objects.values_list("code", "chapter"):
        assert icd10_chapter(code) == chapter, code


# --- the loader and the command ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (["I10", "IX", "1", "高血压", "Hypertension"], "duplicate code"),
        (["I11.9", "X", "1", "高血压性心脏病", "Hypertensive heart disease"], "chapter"),
        (["hypertension", "IX", "1", "高血压", "Hypertension"], "not an ICD-10 code"),
        (["I12.9", "IX", "yes", "高血压性肾脏病", "Hypertensive renal disease"], "is_chronic"),
        (["I13.9", "IX", "1", "", "Hypertensive heart and renal disease"], "names"),
    ],
)
def test_a_bad_line_refuses_the_whole_file(tmp_path, row, message):
    path = write_csv(tmp_path / "icd10.csv", [["I10", "IX", "1", "高血压", "Hypertension"], row])
    with pytest.raises(Icd10DataError, match=message):
        icd10_read_csv(path)


def test_wrong_columns_are_refused(tmp_path):
    path = tmp_path / "icd10.csv"
    path.write_text("code,name\nI10,高血压\n", encoding="utf-8")
    with pytest.raises(Icd10DataError, match="columns"):
        icd10_read_csv(path)


def test_reloading_the_shipped_csv_changes_nothing():
    out = io.StringIO()
    call_command("load_icd10", stdout=out)
    rows = icd10_read_csv(ICD10_CSV)
    assert f"{len(rows)} codes in icd10.csv: 0 created, 0 updated, 0 deactivated." in out.getvalue()


def test_command_updates_names_adds_codes_and_only_deactivates_when_asked(tmp_path):
    path = write_csv(
        tmp_path / "update.csv",
        [
            ["I10", "IX", "1", "原发性高血压", "Essential (primary) hypertension"],
            [
                "I11.9",
                "IX",
                "1",
                "高血压性心脏病不伴有（充血性）心力衰竭",
                "Hypertensive heart disease without (congestive) heart failure",
            ],
            [
                "E10.2",
                "IV",
                "1",
                "1型糖尿病伴有肾的并发症",
                "Type 1 diabetes mellitus with renal complications",
            ],
        ],
    )
    before = Icd10Code.objects.count()

    out = io.StringIO()
    call_command("load_icd10", str(path), stdout=out)
    assert "1 created, 1 updated, 0 deactivated" in out.getvalue()
    assert Icd10Code.objects.get(code="I10").name_zh == "原发性高血压"
    assert Icd10Code.objects.count() == before + 1
    assert not Icd10Code.objects.filter(is_active=False).exists()

    call_command("load_icd10", str(path), "--deactivate-missing", stdout=io.StringIO())
    assert set(Icd10Code.objects.filter(is_active=True).values_list("code", flat=True)) == {
        "I10",
        "I11.9",
        "E10.2",
    }
    assert Icd10Code.objects.count() == before + 1  # deactivated, never deleted

    # Listing a code again brings it back.
    icd10_load(rows=icd10_read_csv(ICD10_CSV))
    assert Icd10Code.objects.get(code="J44.9").is_active


def test_command_reports_a_bad_file(tmp_path):
    path = write_csv(tmp_path / "bad.csv", [["I10", "X", "1", "高血压", "Hypertension"]])
    with pytest.raises(CommandError, match="chapter"):
        call_command("load_icd10", str(path))


# --- the search API ----------------------------------------------------------------------------


def codes(response):
    assert response.status_code == 200, response.json()
    return [row["code"] for row in response.json()["results"]]


def test_anonymous_callers_are_refused():
    response = api_client().get(LIST, {"q": "I10"})
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "make_caller",
    [make_staff, make_doctor, make_user, lambda: make_user(role="patient"), lambda: None],
)
def test_any_authenticated_caller_searches(make_caller):
    caller = make_caller()
    client = api_client(caller) if caller else terminal_client(make_terminal().credential)
    assert codes(client.get(LIST, {"q": "I10"}))[0] == "I10"


def test_search_by_code_prefix_puts_the_exact_code_first():
    client = api_client(make_staff())
    found = codes(client.get(LIST, {"q": "e11"}))
    assert found == [
        "E11.2", "E11.3", "E11.4", "E11.5", "E11.6", "E11.7", "E11.8", "E11.9",
    ]  # fmt: skip
    assert codes(client.get(LIST, {"q": "E11.9"})) == ["E11.9"]
    # "I10" is a code and a prefix of nothing else; the exact match leads.
    assert codes(client.get(LIST, {"q": "I1"}))[:3] == ["I10", "I11.0", "I11.9"]


def test_search_by_chinese_or_english_name():
    client = api_client(make_staff())
    assert {"I10", "I11.9", "I15.9"} <= set(codes(client.get(LIST, {"q": "高血压"})))
    asthma = codes(client.get(LIST, {"q": "ASTHMA"}))
    assert set(asthma) == {"J45.0", "J45.1", "J45.8", "J45.9"}


def test_search_results_carry_names_chapter_and_chronic_flag():
    body = api_client(make_staff()).get(LIST, {"q": "K76.0"}).json()
    assert body["results"] == [
        {
            "code": "K76.0",
            "name_zh": "脂肪肝，不可归类在他处者",
            "name_en": "Fatty (change of) liver, not elsewhere classified",
            "chapter": "XI",
            "is_chronic": True,
        }
    ]


def test_results_are_paginated_and_can_be_limited_to_chronic_diseases():
    client = api_client(make_staff())
    first = client.get(LIST).json()
    assert first["count"] == Icd10Code.objects.count()
    assert len(first["results"]) == 20
    assert first["next"] is not None
    big = client.get(LIST, {"page_size": 500}).json()
    assert len(big["results"]) == 100  # the maximum page size

    chronic = client.get(LIST, {"chronic": "true", "q": "J0"}).json()
    assert chronic["count"] == 0  # acute upper-respiratory infections only
    assert client.get(LIST, {"chronic": "true"}).json()["count"] == (
        Icd10Code.objects.filter(is_chronic=True).count()
    )


def test_inactive_codes_are_neither_found_nor_shown():
    Icd10Code.objects.filter(code="I10").update(is_active=False)
    client = api_client(make_staff())
    assert "I10" not in codes(client.get(LIST, {"q": "I10"}))
    assert client.get(f"{LIST}I10/").status_code == 404


def test_one_code_by_its_code():
    client = api_client(make_staff())
    response = client.get(f"{LIST}E11.9/")
    assert response.status_code == 200
    assert response.json()["name_en"] == "Type 2 diabetes mellitus without complications"
    assert client.get(f"{LIST}e11.9/").json()["code"] == "E11.9"
    missing = client.get(f"{LIST}Z99.9/")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert client.get(f"{LIST}not-a-code/").status_code == 404


def test_the_table_is_read_only_through_the_api():
    client = api_client(make_user())
    assert client.post(LIST, {"code": "X00"}, format="json").status_code == 405
    assert client.delete(f"{LIST}I10/").status_code == 405
