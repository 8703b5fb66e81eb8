"""Collision-free numbering without coordination: the n-th patient's resident ID, the n-th
consultation's slot, unique codes. Batches run in any order and in several processes, so
nothing here may depend on what another batch drew; each value is a bijective function of a
global index instead (an affine permutation of a mixed-radix space).
"""

import bisect
import datetime
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from core.demo.builder import REGION_CODES, _region_in_use
from patients.identity import resident_id_with_check_digit

FIRST_BIRTH_YEAR = 1940
ORDER_PREFIXES = 100  # the first two digits of the sequence code; the third carries the sex
MALE_DIGITS = "13579"
FEMALE_DIGITS = "02468"


def affine_permutation(size: int, rng: random.Random) -> tuple[int, int]:
    """(a, c) with gcd(a, size) = 1: n → (a·n + c) mod size is a bijection of [0, size)."""
    a = rng.randrange(size // 3, size) | 1 if size > 3 else 1
    while math.gcd(a, size) != 1:
        a += 2
    return a % size or 1, rng.randrange(size)


@dataclass(frozen=True)
class ResidentIdSpace:
    """Every (birth date, region code in use that year, order prefix) triple, enumerated year by
    year; patient n takes triple (a·n + c) mod size, so two patients never share a number."""

    years: tuple[int, ...]
    codes_by_year: tuple[tuple[str, ...], ...]
    offsets: tuple[int, ...]  # first index of each year's block
    size: int
    a: int
    c: int

    @classmethod
    def build(cls, *, last_birth_year: int, seed: int) -> "ResidentIdSpace":
        years = tuple(range(FIRST_BIRTH_YEAR, last_birth_year + 1))
        codes = tuple(
            tuple(code for code in REGION_CODES if _region_in_use(code, year)) for year in years
        )
        offsets = []
        size = 0
        for year, year_codes in zip(years, codes, strict=True):
            offsets.append(size)
            days = (datetime.date(year + 1, 1, 1) - datetime.date(year, 1, 1)).days
            size += days * len(year_codes) * ORDER_PREFIXES
        a, c = affine_permutation(size, random.Random(f"{seed}:resident-ids"))  # noqa: S311
        return cls(years, codes, tuple(offsets), size, a, c)

    def number(self, index: int, *, male: bool, parity_draw: int) -> str:
        """The 18-character number of patient `index` (check digit by the registry's helper)."""
        if index >= self.size:
            raise ValueError("more patients than distinct resident ID numbers")
        position = (self.a * index + self.c) % self.size
        block = bisect.bisect_right(self.offsets, position) - 1
        year, codes = self.years[block], self.codes_by_year[block]
        rest = position - self.offsets[block]
        day, rest = divmod(rest, len(codes) * ORDER_PREFIXES)
        code_index, prefix = divmod(rest, ORDER_PREFIXES)
        birth = datetime.date(year, 1, 1) + datetime.timedelta(days=day)
        digits = MALE_DIGITS if male else FEMALE_DIGITS
        sequence = f"{prefix:02d}{digits[parity_draw % len(digits)]}"
        return resident_id_with_check_digit(f"{codes[code_index]}{birth:%Y%m%d}{sequence}")


@dataclass(frozen=True)
class SlotKey:
    doctor_index: int  # into the department's schedulable doctors
    day_index: int  # into the history's days
    slot_index: int  # into the day's slots (28 on weekdays, 14 on Saturday mornings)


@dataclass(frozen=True)
class SlotSpace:
    """The bookable slots of one department's doctors over the history, enumerated day by day:
    weekdays take every doctor's 28 slots, Saturdays the Saturday doctors' 14 morning slots.
    Consultation k of the department takes slot (a·k + c) mod size, so no slot is booked twice."""

    weekday_doctors: int
    saturday_doctors: tuple[int, ...]  # indexes of the doctors who work Saturday mornings
    day_kinds: tuple[int, ...]  # per day: 0 weekday, 1 Saturday, 2 closed
    offsets: tuple[int, ...]
    size: int
    a: int
    c: int

    WEEKDAY_SLOTS = 28
    SATURDAY_SLOTS = 14

    @classmethod
    def build(
        cls,
        *,
        doctors: int,
        saturday_doctors: Sequence[int],
        days: Sequence[datetime.date],
        seed: int,
        department: str,
    ) -> "SlotSpace":
        kinds = []
        offsets = []
        size = 0
        for day in days:
            offsets.append(size)
            weekday = day.weekday()
            if weekday < 5:
                kinds.append(0)
                size += doctors * cls.WEEKDAY_SLOTS
            elif weekday == 5:
                kinds.append(1)
                size += len(saturday_doctors) * cls.SATURDAY_SLOTS
            else:
                kinds.append(2)
        rng = random.Random(f"{seed}:slots:{department}")  # noqa: S311
        a, c = affine_permutation(size, rng) if size else (1, 0)
        return cls(doctors, tuple(saturday_doctors), tuple(kinds), tuple(offsets), size, a, c)

    def key(self, index: int) -> SlotKey:
        if index >= self.size:
            raise ValueError("more consultations than bookable slots in the department")
        position = (self.a * index + self.c) % self.size
        # Closed days are empty blocks sharing the next day's offset: bisect_right passes them.
        day = bisect.bisect_right(self.offsets, position) - 1
        rest = position - self.offsets[day]
        if self.day_kinds[day] == 0:
            doctor, slot = divmod(rest, self.WEEKDAY_SLOTS)
            return SlotKey(doctor, day, slot)
        saturday_doctor, slot = divmod(rest, self.SATURDAY_SLOTS)
        return SlotKey(self.saturday_doctors[saturday_doctor], day, slot)
