"""Paging against the sandbox: until an empty page, exact multiples, empty listings, ignored page param."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alocity_etl.catalog import endpoint_path
from alocity_etl.client import PagingError

USERS = endpoint_path("user_page")


def ids(pages) -> list[str]:  # type: ignore[no-untyped-def]
    return [item["id"] for p in pages for item in p.items]


@pytest.mark.parametrize(("size", "full_pages"), [(7, 3), (5, 4), (20, 1), (500, 1)])
def test_pages_until_empty_including_exact_multiples(client_sandbox, make_client, size, full_pages) -> None:
    truth = [u["id"] for u in client_sandbox.admin.ground_truth(table="users")]
    assert len(truth) == 20
    client = make_client(client_sandbox)
    pages = list(client.iter_pages(USERS, page_size=size))
    assert len(pages) == full_pages
    assert [p.page_number for p in pages] == list(range(1, full_pages + 1))
    assert sorted(ids(pages)) == sorted(truth)
    assert len(ids(pages)) == len(set(ids(pages)))
    # One extra call proves the end: a short page (or a full last page) is not trusted.
    assert client_sandbox.admin.stats()["per_endpoint"]["user_page"] == full_pages + 1
    assert client.stats.pages == full_pages and client.stats.rows == 20
    p = pages[0]
    assert p.params == {"pageNumber": 1, "pageSize": size} and p.parent is None
    assert p.endpoint == "user_page"
    assert p.fetched_at.tzinfo is not None and p.path == USERS


def test_empty_listing_yields_one_empty_page(client_sandbox, make_client) -> None:
    client = make_client(client_sandbox)
    window = {"from": "2000-01-01T00:00:00Z", "to": "2000-01-02T00:00:00Z"}
    pages = list(client.iter_pages(endpoint_path("access_log_page"), window))
    assert len(pages) == 1 and pages[0].items == [] and pages[0].page_number == 1
    assert client_sandbox.admin.stats()["per_endpoint"]["access_log_page"] == 1


def test_server_ignoring_page_param_raises_paging_error(client_sandbox, make_client) -> None:
    client_sandbox.admin.set_faults(endpoint="user_page", ignore_paging=True)
    client = make_client(client_sandbox)
    with pytest.raises(PagingError, match="user/page"):
        list(client.iter_pages(USERS, page_size=7))
    assert client_sandbox.admin.stats()["per_endpoint"]["user_page"] == 2  # stopped at once


def test_access_logs_paged_in_a_window(client_sandbox, make_client) -> None:
    truth = client_sandbox.admin.ground_truth(table="access_logs")
    start = datetime(2000, 1, 1, tzinfo=UTC)
    end = datetime(2100, 1, 1, tzinfo=UTC)
    client = make_client(client_sandbox, page_size=100)
    from alocity_etl.client import wire

    params = {"from": wire.format_datetime(start), "to": wire.format_datetime(end)}
    got = [i["id"] for p in client.iter_pages(endpoint_path("access_log_page"), params) for i in p.items]
    assert got == [r["id"] for r in truth]
