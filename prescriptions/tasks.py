from core.tasks import project_task
from prescriptions.services import lifecycle


@project_task(name="prescriptions.expire")
def prescriptions_expire() -> int:
    """Periodic (beat, every 5 minutes): signed or approved prescriptions past valid_until."""
    return lifecycle.prescriptions_expire()
