from core.tasks import project_task
from patients.access_review import access_review_scan


@project_task(name="patients.access_review_scan", soft_time_limit=120, time_limit=180)
def access_review_scan_task() -> int:
    """Periodic (beat, every 5 minutes): flag audit rows of access from outside a patient's care
    team (reads the audit log forward from a cursor; safe to run twice)."""
    return access_review_scan()
