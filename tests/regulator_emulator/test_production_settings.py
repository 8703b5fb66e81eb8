"""Production settings drop the emulator and keep the feed off unless it is fully configured to
reach the real supervision platform. Each case runs in a fresh interpreter."""

import subprocess
import sys

from django.conf import settings

from tests.test_settings import _complete_variables, _production_env

CHECK = (
    "import django; django.setup(); from django.conf import settings as s; "
    "print(s.REGULATOR_FEED_ENABLED, 'regulator_emulator' in s.INSTALLED_APPS)"
)
FEED = {
    "REGULATOR_FEED_ENABLED": "true",
    "REGULATOR_FEED_URL": "https://jg.wsjkw.gd.gov.cn/api/batches",
    "REGULATOR_FEED_APP_ID": "GD2H-ONLINE-HOSPITAL",
    "REGULATOR_FEED_SECRET": "s" * 40,
    "REGULATOR_FEED_ORG_CODE": "45510000-1",
}


def _run(**variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=settings.BASE_DIR,
        env=_production_env(**_complete_variables(), **variables),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_drops_the_emulator_and_leaves_the_feed_off() -> None:
    result = _run()

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_an_enabled_feed_starts_with_the_real_endpoint() -> None:
    result = _run(**FEED)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False"]


def test_an_enabled_feed_refuses_to_start_half_configured() -> None:
    for missing in ("REGULATOR_FEED_URL", "REGULATOR_FEED_SECRET", "REGULATOR_FEED_APP_ID"):
        result = _run(**(FEED | {missing: ""}))

        assert result.returncode != 0, missing
        assert "REGULATOR_FEED_ENABLED needs" in result.stderr
    plain_http = _run(**(FEED | {"REGULATOR_FEED_URL": "http://127.0.0.1:8000/emulators/x"}))
    assert plain_http.returncode != 0
