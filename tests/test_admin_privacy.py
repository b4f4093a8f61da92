"""The console's privacy desk through HTTP: suppressions, opt-outs, finding and erasing a
customer behind a confirmation, the settings in force, errors beside the field, the audit log."""

from __future__ import annotations

import html
import re

import httpx
from trigger_org import load_org

from surveys.audit import person_ref
from surveys.tables import AuditEntry, Customer, Suppression
from tests.test_admin_outbox import DELAYED, ingest

HTML = {"accept": "text/html"}


def csrf(client: httpx.AsyncClient) -> str:
    return client.cookies.get("lp_csrf")


async def post(client, path: str, data: dict) -> httpx.Response:
    return await client.post(path, data={"_csrf_token": csrf(client), **data})


def error_of(page: str, field: str) -> str:
    return html.unescape(re.search(rf'id="{field}-error">([^<]*)<', page)[1])


async def test_settings_in_force_are_shown(admin_client):
    page = await admin_client.get("/admin/privacy", headers=HTML)
    assert page.status_code == 200
    assert "no retention period" in page.text
    assert "groups of at least 5 raters; comments for at least 10" in page.text


async def test_suppressions_added_listed_removed_and_audited(admin_client, settings):
    r = await post(admin_client, "/admin/privacy/suppressions", {"email": "Bob@Example.com"})
    assert r.status_code == 303 and r.headers["location"] == "/admin/privacy?done=suppressed"
    assert await Suppression.exists().where(Suppression.email == "bob@example.com")
    page = await admin_client.get("/admin/privacy", headers=HTML)
    assert "bob@example.com" in page.text and "manual" in page.text
    bad = await post(admin_client, "/admin/privacy/suppressions", {"email": "not-an-address"})
    assert bad.status_code == 422
    assert error_of(bad.text, "email") == "email is not an email address"
    assert 'value="not-an-address"' in bad.text
    r = await post(admin_client, "/admin/privacy/suppressions/remove", {"email": "bob@example.com"})
    assert r.status_code == 303
    assert not await Suppression.exists().where(Suppression.email == "bob@example.com")
    again = await post(
        admin_client, "/admin/privacy/suppressions/remove", {"email": "bob@example.com"}
    )
    assert again.status_code == 404 and "This address is not suppressed." in again.text
    entries = await AuditEntry.select().where(AuditEntry.kind == "suppression")
    ref = person_ref("bob@example.com", settings.secret_key)
    assert [(e["action"], e["subject"]) for e in entries] == [("add", ref), ("remove", ref)]
    assert all("bob" not in str(e) for e in entries)


async def test_opt_out_on_behalf_of_a_customer(admin_client, ingest_key, settings):
    await load_org(DELAYED)
    await ingest(admin_client, ingest_key, 1)
    missing = await post(admin_client, "/admin/privacy/opt-outs", {"customer": "nobody"})
    assert missing.status_code == 404
    assert error_of(missing.text, "customer") == "No customer has this id."
    assert 'value="nobody"' in missing.text
    r = await post(admin_client, "/admin/privacy/opt-outs", {"customer": "c1"})
    assert r.status_code == 303
    row = await Customer.select().where(Customer.external_id == "c1").first()
    assert row["opted_out_at"] is not None
    twice = await post(admin_client, "/admin/privacy/opt-outs", {"customer": "c1"})
    assert twice.status_code == 409 and "This customer opted out on" in twice.text
    page = await admin_client.get("/admin/privacy", headers=HTML)
    assert "<td>c1<br>" in page.text
    assert "/opt-outs/remove" not in page.text  # only the customer lifts it
    entry = await AuditEntry.select().where(AuditEntry.kind == "opt_out").first()
    assert entry["subject"] == person_ref("c1", settings.secret_key)


async def test_find_and_erase_a_customer_behind_a_confirmation(admin_client, ingest_key, settings):
    await load_org(DELAYED)
    await ingest(admin_client, ingest_key, 1)
    nobody = await admin_client.get("/admin/privacy?q=ghost@example.com", headers=HTML)
    assert nobody.status_code == 404
    assert error_of(nobody.text, "q") == "No customer has this id or address."
    found = await admin_client.get("/admin/privacy?q=c1@example.com", headers=HTML)
    assert found.status_code == 200
    assert "Customer c1" in found.text and "1 invitations, 0 responses" in found.text
    # The source system may send an address in another letter case than the desk is asked.
    await Customer.update({Customer.email: "C1@Example.com"}).where(Customer.external_id == "c1")
    for spelled in ("c1@example.com", "C1@EXAMPLE.COM"):
        also = await admin_client.get("/admin/privacy", params={"q": spelled}, headers=HTML)
        assert also.status_code == 200 and "Customer c1" in also.text, spelled
    await post(admin_client, "/admin/privacy/opt-outs", {"customer": "c1"})
    wrong = await post(admin_client, "/admin/privacy/erase", {"customer": "c1", "confirm": "c"})
    assert wrong.status_code == 422
    assert error_of(wrong.text, "confirm").startswith("Type the customer's id exactly")
    assert await Customer.exists().where(Customer.external_id == "c1")
    r = await post(admin_client, "/admin/privacy/erase", {"customer": "c1", "confirm": "c1"})
    assert r.status_code == 303 and r.headers["location"] == "/admin/privacy?done=erased"
    assert not await Customer.exists().where(Customer.external_id == "c1")
    erased = await Customer.select().first()
    assert erased["email"] is None and erased["erased_at"] is not None
    entry = await AuditEntry.select().where(AuditEntry.kind == "erasure").first()
    assert entry["subject"] == person_ref("c1", settings.secret_key)
    assert entry["actor"] == "admin@example.com"
    opt_out = await AuditEntry.select().where(AuditEntry.kind == "opt_out").first()
    assert (opt_out["subject"], opt_out["after_state"]) == ("erased", None)  # forgotten
    gone = await admin_client.get("/admin/privacy?q=c1", headers=HTML)
    assert gone.status_code == 404
