import pytest


@pytest.fixture(autouse=True)
def _platform_ca(request: pytest.FixtureRequest) -> None:
    """Every database test here runs with the platform CA in place, as `init_pki` leaves it."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None:
        return
    transactional = marker.kwargs.get("transaction", False)
    request.getfixturevalue("transactional_db" if transactional else "db")
    from tests.prescriptions.builders import pki

    pki()


@pytest.fixture
def interaction_warfarin_aspirin(db: None) -> None:
    from prescriptions.models import DrugInteraction

    DrugInteraction.objects.create(
        atc_a="B01AA03",
        atc_b="B01AC06",
        severity="major",
        description_zh="合用显著增加出血风险",
        description_en="Markedly increased bleeding risk",
    )
