"""Every dashboard filter is in the OpenAPI schema with its bounds; dates outside 1970–2100
answer 400 naming the parameter, on every page and API that reads them."""

from __future__ import annotations

import re

import pytest

API = ["/api/gaps", "/api/gaps.csv", "/api/gaps.parquet", "/api/responses.csv"]
API += ["/api/responses.parquet", "/api/focus"]
PAGES = ["/dashboards", "/dashboards/shop"]
FILTERS = {"from", "to", "journey", "segment", "compare", "period"}


@pytest.fixture
async def admin(client, admin_key):
    client.headers["authorization"] = f"Bearer {admin_key}"
    return client


@pytest.fixture
async def admin_with_data(dashboard_scenario, admin):
    return admin


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"to": "0001-01-05"}, "to"),
        ({"from": "9999-12-25", "to": "9999-12-31"}, "to"),
        ({"to": "0001-01-03"}, "to"),
        ({"from": "9999-11-01", "to": "9999-12-31", "period": "month"}, "to"),
        ({"from": "9999-11-01", "to": "2026-12-31", "period": "month"}, "from"),
        ({"from": "1969-12-31", "to": "1970-01-10"}, "from"),
        ({"from": "2100-12-01", "to": "2101-01-01"}, "to"),
        ({"compare": "0001-01-01..0001-02-01"}, "compare"),
        ({"compare": "2026-01-01..9999-12-31"}, "compare"),
        ({"compare": "1970-01-01..2100-12-31"}, "compare"),
        ({"from": "2026-02-30"}, "from"),
        ({"period": "decade"}, "period"),
    ],
)
async def test_dates_out_of_bounds_answer_400_naming_the_parameter(admin, params, field):
    for path in [*API, *PAGES, "/report"]:
        answer = await admin.get(path, params=params)
        assert answer.status_code == 400, (path, params, answer.text[:300])
        if path.startswith("/api/"):
            assert answer.json()["field"] == field, (path, params)
    page = await admin.get("/dashboards", params=params, headers={"accept": "text/html"})
    assert page.status_code == 400 and field in page.text


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2100-10-01", "to": "2100-12-31", "period": "month"},
        {"from": "2100-12-25", "to": "2100-12-31", "period": "week", "compare": "previous"},
        {"from": "1970-01-01", "to": "1970-03-31", "compare": "previous"},
        {"to": "1970-01-05"},
        {"from": "1970-01-01", "to": "1979-12-31", "period": "month"},
        {"compare": "1970-01-01..1970-02-01", "period": "week"},
    ],
)
async def test_the_edges_of_the_bounds_are_served(admin_with_data, params):
    for path in API + PAGES:
        answer = await admin_with_data.get(path, params=params)
        assert answer.status_code == 200, (path, params, answer.text[:300])


async def test_every_filter_is_in_the_schema_with_its_bounds(client):
    schema = (await client.get("/schema/openapi.json")).json()
    for path in [*API, "/dashboards", "/dashboards/{department_key}", "/report"]:
        parameters = {p["name"]: p for p in schema["paths"][path]["get"]["parameters"]}
        assert set(parameters) >= FILTERS, (path, set(parameters))
        if path.startswith(("/api/", "/report")):
            assert "department" in parameters
        for name in ("from", "to"):
            pattern = re.compile(parameters[name]["schema"]["pattern"])
            assert pattern.match("1970-01-01") and pattern.match("2100-12-31")
            assert not pattern.match("1969-12-31") and not pattern.match("2101-01-01")
            assert not pattern.match("0001-01-05") and not pattern.match("9999-12-31")
        assert parameters["period"]["schema"]["enum"] == ["week", "month"]
        compare = re.compile(parameters["compare"]["schema"]["pattern"])
        assert compare.match("previous") and compare.match("2026-01-01..2026-03-31")
        assert not compare.match("0001-01-01..2026-01-01")
        assert parameters["journey"]["schema"]["maxLength"] == 100


async def test_the_invitation_list_declares_its_filters_and_refuses_others(admin):
    schema = (await admin.get("/schema/openapi.json")).json()
    parameters = {p["name"]: p for p in schema["paths"]["/api/invitations"]["get"]["parameters"]}
    status = parameters["status"]["schema"]
    assert "cancelled" in str(status) and "scheduled" in str(status)
    assert "webhook" in str(parameters["channel"]["schema"])
    assert "100" in str(parameters["trigger"]["schema"])
    for params, field in (
        ({"status": "lost"}, "status"),
        ({"channel": "pigeon"}, "channel"),
        ({"trigger": "t" * 101}, "trigger"),
    ):
        answer = await admin.get("/api/invitations", params=params)
        assert answer.status_code == 400, answer.text
        assert field in answer.text
    assert (await admin.get("/api/invitations", params={"status": "failed"})).status_code == 200
