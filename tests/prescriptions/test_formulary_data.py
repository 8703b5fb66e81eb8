"""Data quality of the shipped formulary and interaction table, read as plain CSV.

These checks need no database: they guard the files the importer loads, so a bad edit fails here
with the offending codes named rather than as a half-explained import error.
"""

import csv
import re
from collections import Counter, defaultdict
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[2] / "prescriptions" / "data"
FORMULARY_CSV = DATA_DIR / "formulary.csv"
INTERACTIONS_CSV = DATA_DIR / "interactions.csv"

FORMULARY_HEADER = [
    "code",
    "name_zh",
    "name_en",
    "atc_code",
    "dosage_form",
    "strength",
    "dose_unit",
    "strength_per_unit",
    "units_per_pack",
    "pack_unit",
    "price_fen",
    "control_class",
    "online_prescribable",
    "cold_chain",
    "long_term_eligible",
    "max_daily_dose",
    "default_route",
    "allergy_classes",
]
INTERACTIONS_HEADER = ["atc_a", "atc_b", "severity", "description_zh", "description_en"]

ATC_CODE = re.compile(r"^[A-Z]\d\d[A-Z][A-Z]\d\d$")
# The code's middle part names the dosage form, so two forms of one substance never collide.
FORM_ABBREVIATIONS = {
    "tablet": "TAB",
    "capsule": "CAP",
    "sustained_release_tablet": "SRT",
    "granules": "GRA",
    "oral_solution": "SOL",
    "injection": "INJ",
    "inhaler": "INH",
    "cream": "CRM",
    "ointment": "OIN",
    "eye_drops": "EYE",
    "nasal_spray": "NAS",
    "suppository": "SUP",
    "patch": "PAT",
    "powder": "PWD",
}
DOSE_UNITS = {"mg", "µg", "g", "IU", "ml", "puff", "drop", "patch", "suppository"}
PACK_UNITS = {"盒", "瓶", "支", "袋", "贴"}
CONTROL_CLASSES = {
    "none",
    "narcotic",
    "psychotropic_1",
    "psychotropic_2",
    "toxic",
    "radioactive",
    "precursor",
    "vaccine",
    "blood_product",
}
ROUTES = {
    "oral",
    "sublingual",
    "topical",
    "inhaled",
    "nasal",
    "ophthalmic",
    "subcutaneous",
    "intramuscular",
    "intravenous",
    "rectal",
    "transdermal",
}
FLAGS = ("online_prescribable", "cold_chain", "long_term_eligible")
ALLERGY_VOCABULARY = {
    "青霉素",
    "头孢类抗生素",
    "β-内酰胺类",
    "磺胺类药物",
    "阿司匹林",
    "非甾体抗炎药",
    "大环内酯类",
    "喹诺酮类",
    "碘造影剂",
    "他汀类",
    "磺脲类",
}
# Forms whose dose is counted in a fixed unit (puffs of an inhaler, drops of a bottle...).
FORM_DOSE_UNITS = {
    "inhaler": {"puff"},
    "nasal_spray": {"puff"},
    "eye_drops": {"drop"},
    "cream": {"g"},
    "ointment": {"g"},
    "oral_solution": {"ml"},
    "patch": {"patch"},
}
FORM_ROUTES = {
    "inhaler": {"inhaled"},
    "nasal_spray": {"nasal"},
    "eye_drops": {"ophthalmic"},
    "cream": {"topical"},
    "ointment": {"topical"},
    "suppository": {"rectal"},
    "patch": {"topical", "transdermal"},
    "injection": {"subcutaneous", "intramuscular", "intravenous"},
}
SOLID_ORAL_FORMS = {"tablet", "capsule", "sustained_release_tablet", "granules"}
# Model columns: DecimalField(decimal_places=3), CharField(max_length=...).
DECIMAL_PLACES = 3
MAX_LENGTHS = {"code": 40, "name_zh": 100, "name_en": 120, "strength": 60}
DESCRIPTION_MAX_LENGTH = 300


@cache
def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def formulary() -> list[dict[str, str]]:
    return read_csv(FORMULARY_CSV)[1]


def interactions() -> list[dict[str, str]]:
    return read_csv(INTERACTIONS_CSV)[1]


def prescribable(row: dict[str, str]) -> bool:
    return row["online_prescribable"] == "1"


def decimal_or_none(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def fits_decimal_field(text: str) -> bool:
    """Positive, with no more decimal places than the model's DecimalField keeps."""
    value = decimal_or_none(text)
    if value is None or value <= 0:
        return False
    exponent = value.as_tuple().exponent
    return isinstance(exponent, int) and -exponent <= DECIMAL_PLACES


def route_fits_form(row: dict[str, str]) -> bool:
    if row["dosage_form"] in SOLID_ORAL_FORMS | {"oral_solution", "powder"}:
        return row["default_route"] in {"oral", "sublingual"}
    return row["default_route"] in FORM_ROUTES.get(row["dosage_form"], ROUTES)


def allergy_terms(row: dict[str, str]) -> list[str]:
    return row["allergy_classes"].split(";") if row["allergy_classes"] else []


# --- formulary.csv -----------------------------------------------------------------------------


def test_formulary_header_is_exactly_the_importer_columns() -> None:
    header, _ = read_csv(FORMULARY_CSV)
    assert header == FORMULARY_HEADER


def test_formulary_has_at_least_130_drugs_with_unique_codes() -> None:
    codes = Counter(row["code"] for row in formulary())
    assert len(formulary()) >= 130
    assert [code for code, count in codes.items() if count > 1] == []


def test_every_row_has_every_column_and_no_stray_whitespace() -> None:
    incomplete = [
        row["code"]
        for row in formulary()
        if None in row or any(value is None for value in row.values())
    ]
    padded = [
        (row["code"], column)
        for row in formulary()
        for column, value in row.items()
        if value is not None and value != value.strip()
    ]
    assert incomplete == []
    assert padded == []


def test_required_text_is_present_and_fits_the_model() -> None:
    empty = [
        (row["code"], column)
        for row in formulary()
        for column in ("code", "name_zh", "name_en", "strength")
        if not row[column]
    ]
    too_long = [
        (row["code"], column)
        for row in formulary()
        for column, limit in MAX_LENGTHS.items()
        if len(row[column]) > limit
    ]
    assert empty == []
    assert too_long == []


def test_atc_codes_are_full_who_substance_codes() -> None:
    malformed = [row["code"] for row in formulary() if not ATC_CODE.fullmatch(row["atc_code"])]
    assert malformed == []


def test_code_is_atc_then_form_then_strength() -> None:
    mismatched = []
    for row in formulary():
        form = FORM_ABBREVIATIONS.get(row["dosage_form"], "?")
        pattern = rf"{row['atc_code']}-{form}-[0-9][0-9A-Z.\-]*"
        if not re.fullmatch(pattern, row["code"]):
            mismatched.append(row["code"])
    assert mismatched == []


def test_enumerated_columns_hold_known_values() -> None:
    allowed = {
        "dosage_form": set(FORM_ABBREVIATIONS),
        "dose_unit": DOSE_UNITS,
        "pack_unit": PACK_UNITS,
        "control_class": CONTROL_CLASSES,
        "default_route": ROUTES,
        **{flag: {"0", "1"} for flag in FLAGS},
    }
    unknown = [
        (row["code"], column, row[column])
        for row in formulary()
        for column, values in allowed.items()
        if row[column] not in values
    ]
    assert unknown == []


def test_numbers_parse_and_are_positive() -> None:
    bad = []
    for row in formulary():
        if not fits_decimal_field(row["strength_per_unit"]):
            bad.append((row["code"], "strength_per_unit"))
        for column in ("units_per_pack", "price_fen"):
            if not row[column].isdigit() or int(row[column]) < 1 or row[column].startswith("0"):
                bad.append((row["code"], column))
        if row["max_daily_dose"] and not fits_decimal_field(row["max_daily_dose"]):
            bad.append((row["code"], "max_daily_dose"))
    assert bad == []


def test_one_tablet_or_capsule_a_day_never_exceeds_the_daily_cap() -> None:
    """A cap below one unit's content is a unit slip (g written for mg, per dose for per day)."""
    below_one_unit = [
        row["code"]
        for row in formulary()
        if row["dosage_form"] in SOLID_ORAL_FORMS
        and row["max_daily_dose"]
        and Decimal(row["max_daily_dose"]) < Decimal(row["strength_per_unit"])
    ]
    assert below_one_unit == []


def test_dose_unit_and_route_fit_the_dosage_form() -> None:
    wrong_unit = [
        (row["code"], row["dose_unit"])
        for row in formulary()
        if row["dose_unit"] not in FORM_DOSE_UNITS.get(row["dosage_form"], DOSE_UNITS)
    ]
    wrong_route = [
        (row["code"], row["default_route"]) for row in formulary() if not route_fits_form(row)
    ]
    assert wrong_unit == []
    assert wrong_route == []


def test_every_controlled_class_is_present_twice_and_never_prescribed_online() -> None:
    by_class: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in formulary():
        by_class[row["control_class"]].append(row)
    controlled = CONTROL_CLASSES - {"none"}
    assert {name: len(by_class[name]) >= 2 for name in controlled} == dict.fromkeys(
        controlled, True
    )
    online = [row["code"] for name in controlled for row in by_class[name] if prescribable(row)]
    long_term = [
        row["code"]
        for name in controlled
        for row in by_class[name]
        if row["long_term_eligible"] == "1"
    ]
    assert online == []
    assert long_term == []


def test_ordinary_drugs_are_all_prescribable_online() -> None:
    refused = [
        row["code"]
        for row in formulary()
        if row["control_class"] == "none" and not prescribable(row)
    ]
    assert refused == []


def test_at_least_five_prescribable_cold_chain_drugs() -> None:
    cold = [row["code"] for row in formulary() if prescribable(row) and row["cold_chain"] == "1"]
    assert len(cold) >= 5


def test_at_least_five_atc_groups_hold_two_prescribable_substances() -> None:
    """Duplicate-therapy warnings compare ATC level 4 (the first five characters)."""
    substances: dict[str, set[str]] = defaultdict(set)
    for row in formulary():
        if prescribable(row):
            substances[row["atc_code"][:5]].add(row["atc_code"])
    groups = sorted(group for group, codes in substances.items() if len(codes) >= 2)
    assert len(groups) >= 5
    # The pairs named in the product brief, so the warning can be shown with them.
    assert {"C09AA", "C10AA"} <= set(groups)


def test_allergy_terms_come_from_the_vocabulary_without_repeats() -> None:
    unknown = [
        (row["code"], term)
        for row in formulary()
        for term in allergy_terms(row)
        if term not in ALLERGY_VOCABULARY
    ]
    repeated = [
        row["code"]
        for row in formulary()
        if len(allergy_terms(row)) != len(set(allergy_terms(row)))
    ]
    assert unknown == []
    assert repeated == []


def test_allergy_warnings_can_be_shown_for_each_common_allergy() -> None:
    carriers: Counter[str] = Counter(
        term for row in formulary() if prescribable(row) for term in allergy_terms(row)
    )
    common = ("青霉素", "头孢类抗生素", "磺胺类药物", "阿司匹林", "非甾体抗炎药")
    assert {term: carriers[term] >= 2 for term in common} == dict.fromkeys(common, True)


# --- interactions.csv --------------------------------------------------------------------------


def test_interactions_header_is_exact() -> None:
    header, _ = read_csv(INTERACTIONS_CSV)
    assert header == INTERACTIONS_HEADER


def test_at_least_fifteen_interactions_as_ordered_unique_pairs() -> None:
    pairs = Counter((row["atc_a"], row["atc_b"]) for row in interactions())
    assert len(interactions()) >= 15
    assert [pair for pair, count in pairs.items() if count > 1] == []
    # Stored with atc_a < atc_b, as the model's check constraint requires.
    assert [pair for pair in pairs if not pair[0] < pair[1]] == []


def test_interactions_name_formulary_substances_with_a_known_severity() -> None:
    known = {row["atc_code"] for row in formulary()}
    malformed = [
        code
        for row in interactions()
        for code in (row["atc_a"], row["atc_b"])
        if not ATC_CODE.fullmatch(code)
    ]
    absent = sorted(
        {code for row in interactions() for code in (row["atc_a"], row["atc_b"])} - known
    )
    severities = {row["severity"] for row in interactions()}
    assert malformed == []
    assert absent == []
    assert severities == {"major", "moderate"}


def test_interaction_descriptions_are_bilingual_and_fit_the_model() -> None:
    bad = [
        (row["atc_a"], row["atc_b"], column)
        for row in interactions()
        for column in ("description_zh", "description_en")
        if not row[column].strip() or len(row[column]) > DESCRIPTION_MAX_LENGTH
    ]
    assert bad == []
