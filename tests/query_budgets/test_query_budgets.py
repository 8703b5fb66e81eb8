"""Every list and page runs the same number of queries whatever the data size, within its budget
(tests/query_budgets/budgets.py).

One scene for the module (growth.module_scene): the authorization matrix's world
(tests/security/actors.py), a delivery on its way and one round of growth make the small data
set. Every row is requested against it (after a first request that warms the caches), then two
more rounds of growth are added and every row is requested again, and lists once more with their
largest page size and with a page of one. Each request runs in a savepoint rolled back
afterwards, so what one request writes (audit rows) is not in the next.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.http import HttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from interop.fhir.resources import REGISTRY
from tests.query_budgets import budgets
from tests.query_budgets.budgets import BUDGETS, Budget
from tests.query_budgets.growth import Scene, grow, module_scene
from tests.security import matrix
from tests.security.actors import OPERATIONS, rolled_back

pytestmark = pytest.mark.django_db

# The most rows a page may hold (REST_FRAMEWORK's max_page_size; FHIR's _count takes as many).
LARGEST_PAGE = 100


@dataclass
class Measured:
    status: int
    queries: list[str]
    size: int

    @property
    def count(self) -> int:
        return len(self.queries)


def _size(response: HttpResponse) -> int:
    """How many rows the response lists: the count of a page of the API, the total of a FHIR
    Bundle, a JSON list's length; other responses (HTML, CSV, PDF) by their length in bytes."""
    if response.get("Content-Type", "").split(";")[0].endswith("json"):
        body = json.loads(response.content)
        if isinstance(body, list):
            return len(body)
        for key in ("count", "total"):
            if isinstance(body, dict) and isinstance(body.get(key), int):
                return int(body[key])
    return len(getattr(response, "content", b"")) or sum(
        len(chunk) for chunk in getattr(response, "streaming_content", [])
    )


def _url(scene: Scene, row: Budget, resolved: dict[str, dict[str, Any]]) -> str:
    kwargs: dict[str, Any] = {}
    if row.pattern == budgets.FHIR_READ:
        kwargs = resolved[row.id]
    elif row.target is not None:
        kwargs = budgets.target_kwargs(row.target, scene)
    elif row.resource_type is not None:
        kwargs = {"resource_type": row.resource_type}
    url = reverse(row.pattern, kwargs=kwargs or None)
    return f"{url}?{row.query}" if row.query else url


def _client(scene: Scene, row: Budget, url: str) -> Any:
    """The API's client (token, device credential) for the API and FHIR, else the pages'."""
    cast = scene.world.cast
    return cast.api(row.actor) if url.startswith(("/api/", "/fhir/")) else cast.pages(row.actor)


def _first_fhir_id(scene: Scene, row: Budget) -> dict[str, Any]:
    client = scene.world.cast.api(row.actor)
    with rolled_back():
        response = client.get(reverse("fhir-search", kwargs={"resource_type": row.resource_type}))
    entries = response.json().get("entry") or []
    assert entries, f"{row.id}: the scene has no {row.resource_type} to read"
    return {"resource_type": row.resource_type, "resource_id": entries[0]["resource"]["id"]}


def _measure(client: Any, url: str) -> Measured:
    with rolled_back():
        client.get(url)  # caches warmed: content types, translations, the session's user
    with rolled_back(), CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    return Measured(
        status=response.status_code,
        queries=[query["sql"] for query in captured.captured_queries],
        size=_size(response),
    )


@dataclass
class Run:
    scene: Scene
    resolved: dict[str, dict[str, Any]]
    small: dict[str, Measured]


@pytest.fixture(scope="module")
def run(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    with module_scene(django_db_blocker, tmp_path_factory.mktemp("budgets-media")) as scene:
        resolved = {
            row.id: _first_fhir_id(scene, row)
            for row in BUDGETS
            if row.pattern == budgets.FHIR_READ
        }
        small = {}
        for row in BUDGETS:
            url = _url(scene, row, resolved)
            small[row.id] = _measure(_client(scene, row, url), url)
        grow(scene)
        grow(scene)
        yield Run(scene=scene, resolved=resolved, small=small)


def _listing(measured: Measured) -> str:
    return "\n".join(f"  {n:>3}. {sql}" for n, sql in enumerate(measured.queries, start=1))


def test_budget_rows_are_unique() -> None:
    ids = [row.id for row in BUDGETS]
    assert sorted({i for i in ids if ids.count(i) > 1}) == []


@pytest.mark.parametrize("row", BUDGETS, ids=[row.id for row in BUDGETS])
def test_queries_stay_constant_and_within_budget(run: Run, row: Budget) -> None:
    url = _url(run.scene, row, run.resolved)
    client = _client(run.scene, row, url)
    small = run.small[row.id]
    large = _measure(client, url)

    assert (small.status, large.status) == (row.status, row.status), url
    assert large.count == small.count, (
        f"{row.id}: {small.count} queries with the small data set, {large.count} with more "
        f"rows: a query per row.\nsmall:\n{_listing(small)}\nlarge:\n{_listing(large)}"
    )
    assert large.count <= row.queries, (
        f"{row.id}: {large.count} queries, budget {row.queries}.\n{_listing(large)}"
    )
    if row.grows:
        assert large.size > small.size, f"{row.id}: growth did not reach {url}"
    if row.page_size is not None:
        separator = "&" if "?" in url else "?"
        largest = _measure(client, f"{url}{separator}{row.page_size}={LARGEST_PAGE}")
        assert largest.status == row.status
        assert largest.count == large.count, (
            f"{row.id}: {largest.count} queries with {row.page_size}={LARGEST_PAGE}, "
            f"{large.count} with the default page.\n{_listing(largest)}"
        )
        # A page of one row costs no more (FHIR types drawn from several tables may cost less:
        # one row comes from one table, whose related rows alone are fetched).
        single = _measure(client, f"{url}{separator}{row.page_size}=1")
        assert single.status == row.status
        assert single.count <= large.count, f"{row.id}: {single.count} queries for one row"


def test_every_get_pattern_has_a_budget() -> None:
    budgeted = {row.pattern for row in BUDGETS}
    missing = sorted(
        pattern.key
        for pattern in budgets.get_patterns().values()
        if pattern.key not in budgeted and not budgets.excluded(pattern)
    )
    assert missing == [], f"GET patterns without a row in tests/query_budgets/budgets.py: {missing}"


def test_no_row_or_exclusion_names_a_pattern_that_is_gone() -> None:
    served = budgets.get_patterns()
    namespaces = {pattern.namespace.split(":")[0] for pattern in served.values()}
    stale_rows = sorted({row.pattern for row in BUDGETS} - set(served))
    stale_exclusions = sorted(set(budgets.EXCLUDED) - set(served))
    stale_namespaces = sorted(set(budgets.EXCLUDED_NAMESPACES) - namespaces)
    assert (stale_rows, stale_exclusions, stale_namespaces) == ([], [], [])


def test_every_fhir_type_has_a_search_and_a_read_row() -> None:
    for pattern in ("fhir-search", budgets.FHIR_READ):
        rows = [row for row in BUDGETS if row.pattern == pattern and row.actor == OPERATIONS]
        covered = {row.resource_type for row in rows}
        assert covered == set(REGISTRY), pattern


def test_every_target_is_known() -> None:
    known = set(budgets.SCENE_TARGETS) | set(matrix.TARGETS)
    assert sorted({row.target for row in BUDGETS if row.target} - known) == []
