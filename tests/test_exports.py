"""Data out: CSV neutralisation (CVE-2019-16184), Parquet, raw customer responses."""

from __future__ import annotations

import csv
import io
from datetime import date

import polars as pl
import pytest
from dashboard_data import TODAY, scenario

from dashboards.exports import csv_bytes, neutralise, neutralised, parquet_bytes
from surveys.tables import Answer, Response, SelfRatingScore

FORMULA_STARTS = ["=", "+", "-", "@", "＝", "＋", "－", "＠", "\t", "\r", "\n"]
# What spreadsheets skip before a formula: spaces, a tab or line break, Unicode spaces.
BLANK_PREFIXES = [" ", "   ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2003", "\u200b", "\ufeff"]


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_every_formula_start_is_neutralised(start):
    assert neutralise(f"{start}1+1") == f"'{start}1+1"


@pytest.mark.parametrize("blank", BLANK_PREFIXES)
@pytest.mark.parametrize("start", ["=", "+", "-", "@", "＝", "＋", "－", "＠"])
def test_a_formula_after_blanks_is_neutralised_in_csv_too(blank, start):
    cell = f"{blank}{start}1+1"
    assert neutralise(cell) == "'" + cell
    assert neutralised(pl.DataFrame({"text": [cell]}))["text"].to_list() == ["'" + cell]


@pytest.mark.parametrize("text", ["plain", "", "x =not at start", "1+1", "'already", "a\n=1"])
def test_other_text_is_left_alone(text):
    assert neutralise(text) == text
    assert neutralised(pl.DataFrame({"text": [text]}))["text"].to_list() == [text]


def test_csv_keeps_numbers_numbers_and_neutralises_text():
    frame = pl.DataFrame(
        {
            "text": ["=SUM(A1:A2)", "+1", "-2", "@cmd", "\tx", "\rx", "fine", None],
            "score": [-5, 3, -2, 0, 1, 2, 3, None],
            "gap": [-12.5, 1.0, 0.0, 3.25, -0.5, 2.0, 1.5, None],
        }
    )
    text = csv_bytes(frame).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["text", "score", "gap"]
    assert [r[0] for r in rows[1:]] == [
        "'=SUM(A1:A2)",
        "'+1",
        "'-2",
        "'@cmd",
        "'\tx",
        "'\rx",
        "fine",
        "",
    ]
    assert [r[1] for r in rows[1:]] == ["-5", "3", "-2", "0", "1", "2", "3", ""]
    assert rows[1][2] == "-12.5"


def test_parquet_round_trips_values_unchanged():
    frame = pl.DataFrame({"text": ["=1+1", "ok"], "n": [1, -2]})
    back = pl.read_parquet(io.BytesIO(parquet_bytes(frame)))
    assert back.equals(frame)


async def test_responses_export_has_segments_neutralised_text_and_no_employees(
    db, admin_key, client
):
    await scenario(days=10)
    headers = {"authorization": f"Bearer {admin_key}"}
    params = {"from": "2026-11-11", "to": TODAY.isoformat(), "department": "sales"}
    answer = await client.get("/api/responses.csv", params=params, headers=headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text, newline="")))
    assert rows and {r["department"] for r in rows} == {"sales"}
    assert {r["segment.channel"] for r in rows} == {"phone", "web"}
    texts = [r["text"] for r in rows if r["kind"] == "text"]
    assert texts and all(t.startswith("'=HYPERLINK") for t in texts)
    scores = [r["score"] for r in rows if r["kind"] == "csat"]
    assert all(s.isdigit() for s in scores)
    # Exactly the stored customer responses of those days, never an employee score.
    ids = {int(r["response_id"]) for r in rows}
    responses = await Response.select(Response.id, Response.submitted_at).where(
        Response.step.department.key == "sales"
    )
    wanted = {r["id"] for r in responses if date(2026, 11, 11) <= r["submitted_at"].date() <= TODAY}
    assert ids == wanted
    assert await SelfRatingScore.count() > 0  # employee ratings exist, yet none is exported
    answers = await Answer.count().where(Answer.response.is_in(list(wanted)))
    assert len(rows) == answers
    parquet = await client.get("/api/responses.parquet", params=params, headers=headers)
    frame = pl.read_parquet(io.BytesIO(parquet.content))
    assert frame.height == len(rows)
    assert frame.filter(pl.col("kind") == "text")["text"][0].startswith("=HYPERLINK")
    phone = await client.get(
        "/api/responses.csv", params=params | {"segment.channel": "phone"}, headers=headers
    )
    phone_rows = list(csv.DictReader(io.StringIO(phone.text, newline="")))
    assert phone_rows and {r["segment.channel"] for r in phone_rows} == {"phone"}
