"""Calendar helpers in the platform's time zone (Asia/Shanghai)."""

import datetime

from django.utils import timezone


def years_after(day: datetime.date, years: int) -> datetime.date:
    """The same calendar day `years` later (earlier when negative); 29 February becomes
    28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def local_day_start(day: datetime.date) -> datetime.datetime:
    """Local midnight starting `day`, as an aware datetime."""
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=timezone.get_default_timezone())


def local_day_bounds(day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """[start, end) of the local day."""
    start = local_day_start(day)
    return start, local_day_start(day + datetime.timedelta(days=1))


def age_on(birth_date: datetime.date, today: datetime.date) -> int:
    """Age in whole years on `today`."""
    return (
        today.year
        - birth_date.year
        - ((today.month, today.day) < (birth_date.month, birth_date.day))
    )
