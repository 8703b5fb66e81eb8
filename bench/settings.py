"""Settings of the load benchmark's server (`python -m bench.load`): the base settings with the
baseline views mounted under /bench/baseline/ (bench/urls.py). Nothing else differs, so the real
endpoints run exactly as the base settings configure them.

`BENCH_STATIC_ROOT`: where the benchmark collected the static files (DEBUG off serves them from
the manifest there, as production does).
"""

from telehealth.settings.base import *  # noqa: F403
from telehealth.settings.base import env

ROOT_URLCONF = "bench.urls"
STATIC_ROOT = env.path("BENCH_STATIC_ROOT", default=STATIC_ROOT)  # noqa: F405
