# One image for the web server, the Celery worker and Celery beat (docker-compose.yml).
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=telehealth.settings.production

WORKDIR /app
RUN useradd --system --create-home --uid 10001 telehealth

COPY . .
RUN pip install --upgrade pip && pip install .

# collectstatic needs settings to import; the real secrets arrive at run time.
RUN DJANGO_SECRET_KEY=build-only PATIENT_DATA_KEYS=build-only PATIENT_LOOKUP_KEYS=build-only \
    DJANGO_ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput --verbosity 0

USER telehealth
EXPOSE 8000
CMD ["uvicorn", "telehealth.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers", "--workers", "2"]
