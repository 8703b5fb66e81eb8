"""A video consultation in two real Chromium windows: the doctor's and the facility staff's,
with fake cameras and microphones, over the live ASGI server."""

from collections import Counter

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import BrowserPages
from tests.support.processes import wait_until
from tests.video.rooms import start_visit
from video.models import CallEvent, ChatMessage

pytestmark = pytest.mark.browser

# Waits, not measurements: each is how long a step may take before the test gives up.
WAIT_MS = 10_000

REMOTE_VIDEO_PLAYS = "() => document.getElementById('remote-video').videoWidth > 0"
LOCAL_VIDEO_PLAYS = "() => document.getElementById('local-video').videoWidth > 0"
REMOTE_FRAMES = (
    "() => document.getElementById('remote-video').getVideoPlaybackQuality().totalVideoFrames"
)
REMOTE_FRAMES_GREW = (
    "(before) => document.getElementById('remote-video')"
    ".getVideoPlaybackQuality().totalVideoFrames > before"
)
NEW_SESSION_CONNECTED = """(before) => {
  const state = document.getElementById('connection-state');
  return state.dataset.session !== before && state.textContent === 'connected';
}"""


def expect_connected(*pages: Page) -> None:
    for page in pages:
        expect(page.locator("#connection-state")).to_have_text("connected", timeout=WAIT_MS)


def expect_remote_frames_advancing(*pages: Page) -> None:
    for page in pages:
        page.wait_for_function(REMOTE_VIDEO_PLAYS, timeout=WAIT_MS)
        frames = page.evaluate(REMOTE_FRAMES)
        page.wait_for_function(REMOTE_FRAMES_GREW, arg=frames, timeout=WAIT_MS)


def session_of(page: Page) -> str | None:
    return page.locator("#connection-state").get_attribute("data-session")


def send_chat(page: Page, text: str) -> None:
    page.fill("#chat-input", text)
    page.click("#chat-form button[type=submit]")


def reload_and_reconnect(reloaded: Page, other: Page) -> None:
    """Reload one side; both must be connected again, on a new peer connection."""
    before = session_of(other)
    reloaded.reload()
    other.wait_for_function(NEW_SESSION_CONNECTED, arg=before, timeout=WAIT_MS)
    expect_connected(reloaded)
    assert session_of(reloaded) == session_of(other)


def test_doctor_and_facility_staff_hold_a_video_consultation(browser_pages: BrowserPages):
    visit = start_visit()
    consultation = visit.consultation
    path = f"/video/consultations/{consultation.public_id}/"

    doctor = browser_pages.open(path, user=visit.doctor, name="doctor")
    staff = browser_pages.open(path, user=visit.staff, name="staff")

    expect_connected(doctor, staff)
    assert session_of(doctor) == session_of(staff) != ""
    expect_remote_frames_advancing(doctor, staff)
    for page in (doctor, staff):
        page.wait_for_function(LOCAL_VIDEO_PLAYS, timeout=WAIT_MS)

    send_chat(doctor, "您好，最近血压控制得怎么样？")
    expect(staff.locator("#chat-log")).to_contain_text("您好，最近血压控制得怎么样？")
    send_chat(staff, "一周都在130/85左右，头不晕。")
    expect(doctor.locator("#chat-log")).to_contain_text("一周都在130/85左右，头不晕。")
    assert list(
        ChatMessage.objects.filter(consultation=consultation)
        .order_by("sent_at", "pk")
        .values_list("side", "sender_user", "text")
    ) == [
        ("doctor", visit.doctor.pk, "您好，最近血压控制得怎么样？"),
        ("facility", visit.staff.pk, "一周都在130/85左右，头不晕。"),
    ]

    doctor.click("#toggle-audio")
    expect(doctor.locator("#toggle-audio")).to_have_attribute("aria-pressed", "true")
    expect(staff.locator("#peer-state")).to_contain_text("对方已静音")

    reload_and_reconnect(staff, doctor)
    expect_remote_frames_advancing(doctor, staff)
    expect(staff.locator("#chat-log li")).to_have_count(2)  # the chat so far comes back

    reload_and_reconnect(doctor, staff)
    expect_remote_frames_advancing(doctor, staff)

    browser_pages.assert_no_console_errors()

    def kinds(side: str) -> Counter[str]:
        rows = CallEvent.objects.filter(session__consultation=consultation, side=side)
        return Counter(rows.values_list("kind", flat=True))

    # The reloaded pages' old sockets may close on the server after their new ones opened.
    wait_until(
        lambda: kinds("doctor")["left"] == 1 and kinds("facility")["left"] == 1,
        timeout=WAIT_MS / 1000,
        what="the old sockets' leave events",
    )
    assert kinds("doctor") == Counter(
        {"joined": 1, "microphone_off": 1, "left": 1, "reconnected": 1}
    )
    assert kinds("facility") == Counter({"joined": 1, "left": 1, "reconnected": 1})
