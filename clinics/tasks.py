from clinics import services
from core.tasks import project_task


@project_task(name="clinics.terminals_mark_stale_offline")
def terminals_mark_stale_offline() -> int:
    """Periodic (beat, every minute): terminals that stopped sending heartbeats go offline."""
    return services.terminals_mark_stale_offline()
