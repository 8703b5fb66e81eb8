"""Load benchmarks of the hot paths over HTTP against the platform started as in production.

    .venv/bin/python -m bench.load --database-url postgres://postgres@127.0.0.1:5432/<db> \
        [--scenario NAME|all] [--concurrency 8] [--duration 20] [--warmup 3] [--json out.json]

The database must exist and be populated (`manage.py migrate` + `seed_demo`, or larger); it is
never created or dropped, and each run adds its working sets to it. See runner.py for the steps:
stack.py starts the platform, prepare.py and scenarios.py make the working sets, driver.py sends
the requests, stats.py summarises them; bench/baselines.py holds the bare baselines.
"""
