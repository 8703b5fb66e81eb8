"""The platform's URLs plus the load benchmark's baseline views (bench/baselines.py) under
/bench/baseline/. Only bench.settings uses this URLconf; the platform's own never mounts them."""

from django.urls import include, path

from bench import baselines
from telehealth.urls import handler404, handler500
from telehealth.urls import urlpatterns as platform_urlpatterns

urlpatterns = [
    path("bench/baseline/", include((baselines.urlpatterns, "bench-baseline"))),
    *platform_urlpatterns,
]

__all__ = ["handler404", "handler500", "urlpatterns"]
