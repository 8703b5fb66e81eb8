from collections.abc import Iterator
from typing import Any

import pytest

from notifications.providers.sms_emulator import MessagingEmulator, default_emulator


@pytest.fixture(autouse=True)
def emulator(settings: Any) -> Iterator[MessagingEmulator]:
    """The in-process SMS emulator, emptied for each test; quiet hours off unless a test turns
    them on (tests must not depend on the time of day they run); fixed quality settings."""
    settings.SMS_API_BASE_URL = ""
    settings.WECHAT_API_BASE_URL = ""
    settings.NOTIFICATION_QUIET_HOURS = ""
    settings.QUALITY_FEEDBACK_DELAY_MINUTES = 10
    settings.QUALITY_FEEDBACK_LOOKBACK_HOURS = 48
    settings.QUALITY_FEEDBACK_LINK_DAYS = 7
    settings.QUALITY_FEEDBACK_REMINDER_HOURS = [24, 72]
    default_emulator.reset()
    yield default_emulator
    default_emulator.reset()
