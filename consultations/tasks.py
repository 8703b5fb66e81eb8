from consultations.services import lifecycle, schedules
from core.tasks import project_task


@project_task(name="consultations.slots_generate", soft_time_limit=300, time_limit=360)
def slots_generate() -> dict[str, int]:
    """Periodic (beat, hourly): every doctor's slots for the coming SLOT_HORIZON_DAYS days.
    Idempotent; each doctor in a short transaction of its own."""
    return schedules.slots_generate().as_dict()


@project_task(name="consultations.consultations_mark_no_show")
def consultations_mark_no_show() -> int:
    """Periodic (beat, every 5 minutes): bookings nobody checked in by slot end + grace."""
    return lifecycle.consultations_mark_no_show()
