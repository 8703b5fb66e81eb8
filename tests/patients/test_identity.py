"""Identity documents and phone numbers (GB 11643 resident IDs, permits, mainland mobiles)."""

import datetime

import pytest

from core.exceptions import DomainError
from patients.identity import (
    mask_id_number,
    normalize_phone,
    parse_identity,
    parse_resident_id,
    resident_id_with_check_digit,
)

# A widely published sample number (Beijing Chaoyang, 1949-12-31, female).
VALID = "11010519491231002X"


def _error_code(callable_, *args):
    with pytest.raises(DomainError) as error:
        callable_(*args)
    return error.value.code


def test_valid_resident_id_derives_birth_date_and_sex():
    parsed = parse_resident_id(VALID)
    assert parsed.number == VALID
    assert parsed.birth_date == datetime.date(1949, 12, 31)
    assert parsed.sex == "female"


def test_lowercase_x_and_spaces_are_normalised():
    assert parse_resident_id(" 110105 19491231 002x ").number == VALID


def test_odd_seventeenth_digit_is_male():
    number = resident_id_with_check_digit("44010419900101003")
    assert parse_resident_id(number).sex == "male"


def test_wrong_check_digit_is_refused():
    assert _error_code(parse_resident_id, "110105194912310021") == "id_number_checksum"


def test_impossible_birth_date_is_refused():
    number = resident_id_with_check_digit("44010419900230001")  # 30 February
    assert _error_code(parse_resident_id, number) == "id_number_birth_date"


def test_future_birth_date_is_refused():
    number = resident_id_with_check_digit("44010421990101001")
    assert _error_code(parse_resident_id, number) == "id_number_birth_date"


def test_unknown_region_is_refused():
    number = resident_id_with_check_digit("99010419900101001")
    assert _error_code(parse_resident_id, number) == "id_number_region"


def test_fifteen_digit_legacy_number_is_rejected_not_converted():
    assert _error_code(parse_resident_id, "110105491231002") == "id_number_legacy"


@pytest.mark.parametrize(
    ("raw", "code"),
    [("1101051949123100", "id_number_length"), ("11010519491231002Y", "id_number_format")],
)
def test_malformed_numbers_have_their_own_codes(raw, code):
    assert _error_code(parse_resident_id, raw) == code


@pytest.mark.parametrize(
    ("id_type", "raw", "expected"),
    [
        ("passport", "e12345678", "E12345678"),
        ("hk_macau_permit", "H12345678", "H12345678"),
        ("taiwan_permit", "12345678", "12345678"),
    ],
)
def test_other_documents_get_format_checks(id_type, raw, expected):
    parsed = parse_identity(id_type, raw)
    assert (parsed.number, parsed.birth_date, parsed.sex) == (expected, None, None)


@pytest.mark.parametrize(
    ("id_type", "raw"),
    [("passport", "E1"), ("hk_macau_permit", "X12345678"), ("taiwan_permit", "1234")],
)
def test_other_documents_with_bad_format_are_refused(id_type, raw):
    assert _error_code(parse_identity, id_type, raw) == "id_number_format"


def test_unknown_document_type_is_refused():
    assert _error_code(parse_identity, "library_card", "12345") == "id_type_invalid"


def test_mainland_mobile_is_normalised_to_e164():
    assert normalize_phone("138 0013 8000") == "+8613800138000"
    assert normalize_phone("+86 138-0013-8000") == "+8613800138000"


@pytest.mark.parametrize("raw", ["12345", "not a phone", "+1 650 253 0000", "010 6552 9988"])
def test_invalid_or_non_mobile_phone_is_refused(raw):
    assert _error_code(normalize_phone, raw) == "phone_invalid"


def test_masking_keeps_first_and_last_four():
    assert mask_id_number(VALID) == "1101**********002X"
