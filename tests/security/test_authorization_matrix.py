"""The authorization matrix: every URL pattern that takes an object id, as every member of the
cast, against the outcome tests/security/matrix.py declares for that cell.

The patterns come from the URL configuration itself, so an endpoint or page added without a row
fails `test_every_object_pattern_has_a_row` by name. Each row's cells are requested against one
world (tests/security/actors.py) built once for the module; every request runs in a savepoint
rolled back afterwards, so an action one member of the cast was allowed to take never changes
what the next one meets. POST-like requests carry an empty body: an allowed caller gets past the
access checks to a validation error (400) or a state conflict (409), or the action itself.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from django.http import HttpResponse
from django.urls import reverse

from tests.security import matrix
from tests.security.actors import CAST, World, module_world, rolled_back

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def world(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with module_world(django_db_blocker, tmp_path_factory.mktemp("matrix-media")) as made:
        yield made


def classify(response: HttpResponse) -> str:
    """The response as a cell of the table (see matrix.OUTCOMES)."""
    status = response.status_code
    if status in (401, 403, 404):
        return str(status)
    if status in (301, 302, 303) and response["Location"].startswith(matrix.SIGN_IN_URLS):
        return matrix.SIGN_IN
    if 200 <= status < 400 or status in matrix.ACCESS_GRANTED_ERRORS:
        return matrix.ALLOW
    return str(status)  # 405, 429, 5xx...: never declared, always a failure


def request(world: World, row: matrix.Row, who: str) -> HttpResponse:
    kwargs = row.target(world)
    url = row.url(kwargs) if row.url is not None else reverse(row.pattern, kwargs=kwargs)
    method = row.method.lower()
    if row.kind == matrix.API:
        client: Any = world.cast.api(who)
        if method == "get":
            return client.get(url)
        body = row.body(world) if row.body is not None else {}
        return getattr(client, method)(url, body, format="multipart" if row.multipart else "json")
    client = world.cast.pages(who)
    return client.get(url) if method == "get" else getattr(client, method)(url, {})


@pytest.mark.parametrize("row", matrix.ROWS, ids=[row.id for row in matrix.ROWS])
def test_cell_outcomes(world: World, row: matrix.Row) -> None:
    observed: dict[str, str] = {}
    for who in CAST:
        with rolled_back():
            observed[who] = classify(request(world, row, who))
    unexpected = {
        who: f"declared {row.cells[who]}, got {observed[who]}"
        for who in CAST
        if observed[who] != row.cells[who]
    }
    assert not unexpected, (
        f"{row.id}: {unexpected}\n"
        f"  declared: {matrix.format_cells(row.cells)}\n"
        f"  observed: {matrix.format_cells(observed)}"
    )


def test_every_object_pattern_has_a_row() -> None:
    served = matrix.object_patterns()
    declared = {(row.pattern, row.method) for row in matrix.ROWS}
    missing = sorted(
        f"{pattern.key} {method}"
        for pattern in served.values()
        if pattern.key not in matrix.NOT_USER_FACING
        for method in matrix.required_methods(pattern)
        if (pattern.key, method) not in declared
    )
    assert not missing, f"object endpoints without a row in tests/security/matrix.py: {missing}"


def test_no_row_names_a_pattern_that_is_gone() -> None:
    served = matrix.object_patterns()
    stale = sorted(
        {f"{row.pattern} {row.method}" for row in matrix.ROWS}
        - {f"{p.key} {method}" for p in served.values() for method in p.methods}
    )
    gone = sorted(set(matrix.NOT_USER_FACING) - set(served))
    assert not stale, f"rows for patterns or methods no longer served: {stale}"
    assert not gone, f"NOT_USER_FACING names patterns no longer served: {gone}"
