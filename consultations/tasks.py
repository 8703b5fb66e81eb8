from consultations.services import schedules
from core.tasks import project_task


@project_task(name="consultations.slots_generate", soft_time_limit=300, time_limit=360)
def slots_generate() -> dict[str, int]:
    """Periodic (beat, hourly): every doctor's slots for the coming SLOT_HORIZON_DAYS days.
    Idempotent; each doctor in a short transaction of its own."""
    return schedules.slots_generate().as_dict()
