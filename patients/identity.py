"""Identity documents and phone numbers: validation and normalisation (pure functions).

Mainland resident identity card (GB 11643-1999): 18 characters, the last a MOD 11-2 check digit
(0-9 or X); digits 1-6 the region of first registration, 7-14 the birth date, 17 odd for male.
The 15-digit first-generation cards stopped being valid on 1 January 2013, so a 15-digit number
is refused with its own code (`id_number_legacy`) rather than converted: converting would guess
the century and invent a check digit for a document nobody may present any more.
"""

import datetime
import re
from dataclasses import dataclass

import phonenumbers
from stdnum import numdb
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumValidationError

from core.exceptions import DomainError


class IdType:
    RESIDENT_ID = "resident_id"
    PASSPORT = "passport"
    HK_MACAU_PERMIT = "hk_macau_permit"
    TAIWAN_PERMIT = "taiwan_permit"


# Other documents are checked for shape only; the issuing authority's own rules are not public.
_FORMATS = {
    IdType.PASSPORT: re.compile(r"^[A-Z0-9]{5,17}$"),
    # 港澳居民来往内地通行证: H or M, then 8 digits (10 on older cards).
    IdType.HK_MACAU_PERMIT: re.compile(r"^[HM]\d{8}(\d{2})?$"),
    # 台湾居民来往大陆通行证: 8 digits (older cards 10 digits with a letter suffix).
    IdType.TAIWAN_PERMIT: re.compile(r"^\d{8}(\d{2}[A-Z]?)?$"),
}


@dataclass(frozen=True)
class ParsedIdentity:
    id_type: str
    number: str  # normalised: upper case, no spaces
    birth_date: datetime.date | None
    sex: str | None  # "male" / "female", derived from resident IDs only


def _region_known(code: str) -> bool:
    """Whether the 6-digit code is (or was) a county-level division in the national table.

    Any period counts: the code is where the card was first issued, which for anyone born before
    the cards existed (1984) is later than the birth year, so tying it to the birth year (as
    stdnum's get_birth_place does) would refuse real cards.
    """
    parts = numdb.get("cn/loc").info(code)
    return any("county" in props for _part, props in parts)


def _id_error(message: str, code: str) -> DomainError:
    return DomainError(message, code=code, fields={"id_number": [message]})


def parse_resident_id(raw: str, *, today: datetime.date | None = None) -> ParsedIdentity:
    number = re.sub(r"\s", "", raw).upper()
    if len(number) == 15 and number.isdigit():
        raise _id_error(
            "15-digit first-generation ID cards are no longer valid; use the 18-digit number.",
            "id_number_legacy",
        )
    if len(number) != 18:
        raise _id_error("A resident ID number has 18 characters.", "id_number_length")
    if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
        raise _id_error(
            "A resident ID number is 17 digits followed by a digit or X.", "id_number_format"
        )
    if ric.calc_check_digit(number) != number[17]:
        raise _id_error("The check digit does not match (GB 11643).", "id_number_checksum")
    try:
        birth_date = ric.get_birth_date(number)
    except StdnumValidationError as error:
        raise _id_error(
            "The birth date in the ID number is impossible.", "id_number_birth_date"
        ) from error
    today = today or datetime.date.today()
    if birth_date > today or birth_date.year < 1900:
        raise _id_error("The birth date in the ID number is impossible.", "id_number_birth_date")
    if not _region_known(number[:6]):
        raise _id_error("The region code in the ID number is unknown.", "id_number_region")
    sex = "male" if int(number[16]) % 2 == 1 else "female"
    return ParsedIdentity(id_type=IdType.RESIDENT_ID, number=number, birth_date=birth_date, sex=sex)


def parse_identity(id_type: str, raw: str) -> ParsedIdentity:
    if id_type == IdType.RESIDENT_ID:
        return parse_resident_id(raw)
    pattern = _FORMATS.get(id_type)
    if pattern is None:
        raise DomainError(
            "Unknown identity document type.",
            code="id_type_invalid",
            fields={"id_type": ["Unknown document type."]},
        )
    number = re.sub(r"[\s()（）-]", "", raw).upper()
    if not pattern.match(number):
        raise _id_error(
            "The document number does not have the expected format.", "id_number_format"
        )
    return ParsedIdentity(id_type=id_type, number=number, birth_date=None, sex=None)


def normalize_phone(raw: str, *, field: str = "phone") -> str:
    """A mainland mobile number in E.164 form (+86...), or a DomainError `phone_invalid`."""
    message = "Enter a valid mainland China mobile number."
    try:
        parsed = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException as error:
        raise DomainError(message, code="phone_invalid", fields={field: [message]}) from error
    mobile_types = {
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    }
    if (
        parsed.country_code != 86
        or not phonenumbers.is_valid_number(parsed)
        or phonenumbers.number_type(parsed) not in mobile_types
    ):
        raise DomainError(message, code="phone_invalid", fields={field: [message]})
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def mask_id_number(number: str) -> str:
    """What screens show: the first 4 and last 4 characters."""
    if len(number) <= 8:
        return number[:2] + "*" * (len(number) - 2)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def resident_id_with_check_digit(first17: str) -> str:
    """Complete 17 digits (region, birth date YYYYMMDD, sequence) with the GB 11643 check digit.

    Used to make demo and test data; real numbers come from the patient's card.
    """
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("expected 17 digits")
    return first17 + ric.calc_check_digit(first17 + "0")
