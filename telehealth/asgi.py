"""ASGI entry point (uvicorn in `make run`, in docker-compose and in tests)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telehealth.settings.base")

application = get_asgi_application()
