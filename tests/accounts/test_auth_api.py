"""Token sign-in, the error shape, and the doctors directory."""

import datetime

import pytest
from rest_framework.test import APIClient

from tests.factories import PASSWORD, api_client, make_doctor, make_user

pytestmark = pytest.mark.django_db


def test_password_sign_in_returns_access_and_refresh_tokens():
    user = make_user(username="ops1")
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/", {"username": "ops1", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200
    tokens = response.json()
    assert set(tokens) == {"access", "refresh"}
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = client.get("/api/v1/me/").json()
    assert (me["id"], me["role"]) == (str(user.public_id), "operations")

    refreshed = APIClient().post(
        "/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json"
    )
    assert refreshed.status_code == 200
    assert "access" in refreshed.json()


def test_wrong_password_is_a_401_with_a_code():
    make_user(username="ops2")
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "ops2", "password": "nope"}, format="json"
    )
    assert response.status_code == 401
    assert response.json()["code"] == "no_active_account"
    assert set(response.json()) == {"code", "message", "fields"}


def test_garbage_bearer_token_is_refused():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    response = client.get("/api/v1/me/")
    assert (response.status_code, response.json()["code"]) == (401, "token_not_valid")


def test_unknown_api_path_and_malformed_id_are_json_404s():
    client = api_client(make_user())
    for path in ("/api/v1/nothing-here/", "/api/v1/patients/not-a-uuid/"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_malformed_json_is_a_parse_error():
    response = api_client(make_user()).post(
        "/api/v1/facilities/", data="{not json", content_type="application/json"
    )
    assert (response.status_code, response.json()["code"]) == (400, "parse_error")


def test_method_not_allowed_has_a_code():
    response = api_client(make_user()).delete("/api/v1/me/")
    assert (response.status_code, response.json()["code"]) == (405, "method_not_allowed")


def test_doctor_with_under_three_years_cannot_be_scheduled():
    today = datetime.date.today()
    senior = make_doctor(practice_since=datetime.date(2010, 1, 1))
    junior = make_doctor(practice_since=today.replace(year=today.year - 2))
    rows = {
        row["id"]: row for row in api_client(make_user()).get("/api/v1/doctors/").json()["results"]
    }
    assert rows[str(senior.public_id)]["can_be_scheduled"] is True
    assert rows[str(junior.public_id)]["can_be_scheduled"] is False
    assert rows[str(junior.public_id)]["years_of_independent_practice"] == 2


def test_schema_and_docs_are_served_without_internet(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/v1/patients/" in schema.json()["paths"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    for host in ("cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com", "//cdn."):
        assert host not in html
