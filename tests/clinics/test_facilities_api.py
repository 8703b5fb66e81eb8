"""Facilities API: operations see and manage the network; staff see their own site."""

import pytest

from clinics.models import Facility
from tests.factories import api_client, make_doctor, make_facility, make_staff, make_user

pytestmark = pytest.mark.django_db

LIST = "/api/v1/facilities/"


@pytest.fixture
def network():
    return [
        make_facility(city="广州市", facility_type="pharmacy"),
        make_facility(city="广州市", facility_type="school"),
        make_facility(city="深圳市", facility_type="prison", district="福田区"),
    ]


def ids(response):
    return {row["id"] for row in response.json()["results"]}


def test_operations_list_and_filter_the_network(network):
    client = api_client(make_user())
    assert client.get(LIST).json()["count"] == 3
    assert ids(client.get(LIST, {"city": "广州市"})) == {str(f.public_id) for f in network[:2]}
    assert ids(client.get(LIST, {"facility_type": "prison"})) == {str(network[2].public_id)}
    assert ids(client.get(LIST, {"q": network[1].code})) == {str(network[1].public_id)}
    bad = client.get(LIST, {"facility_type": "spaceport"})
    assert (bad.status_code, bad.json()["code"]) == (400, "validation_error")


def test_staff_see_only_their_facility(network):
    client = api_client(make_staff(facility=network[0]))
    assert ids(client.get(LIST)) == {str(network[0].public_id)}
    assert client.get(f"{LIST}{network[1].public_id}/").status_code == 404
    assert client.get(f"{LIST}{network[0].public_id}/").json()["code"] == network[0].code


def test_doctors_see_the_network(network):
    assert api_client(make_doctor()).get(LIST).json()["count"] == 3


def test_operations_create_and_update_a_facility():
    client = api_client(make_user())
    payload = {
        "code": "FAC-NEW-1",
        "name": "清远市清城区东城街社区卫生服务站",
        "facility_type": "community_clinic",
        "province": "广东省",
        "city": "清远市",
        "district": "清城区",
        "operator": "清城区卫生健康局",
        "is_licensed_medical_institution": True,
    }
    created = client.post(LIST, payload, format="json")
    assert created.status_code == 201
    facility_id = created.json()["id"]

    updated = client.patch(f"{LIST}{facility_id}/", {"is_active": False}, format="json")
    assert updated.status_code == 200
    assert Facility.objects.get(public_id=facility_id).is_active is False

    duplicate = client.post(LIST, payload, format="json")
    assert (duplicate.status_code, duplicate.json()["code"]) == (409, "facility_code_taken")


def test_staff_cannot_create_facilities(network):
    client = api_client(make_staff(facility=network[0]))
    forbidden = client.post(
        LIST,
        {
            "code": "FAC-Z",
            "name": "n",
            "facility_type": "pharmacy",
            "province": "p",
            "city": "c",
            "district": "d",
            "operator": "o",
        },
        format="json",
    )
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "permission_denied")
    assert not Facility.objects.filter(code="FAC-Z").exists()
