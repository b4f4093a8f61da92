"""Admin JSON API for departments, journeys, steps and surveys: CRUD, order, errors, versioning."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from surveys.journey_file import load_journey
from surveys.tables import Answer, Department, Journey, Question, Response, Step, Survey
from tests.conftest import PASSWORD, login

CSAT = {
    "key": "csat",
    "kind": "csat",
    "customer": "How satisfied are you with how we resolved your request?",
    "employee": "How satisfied are customers with how we resolve their requests?",
}
COMMENT = {
    "key": "comment",
    "kind": "text",
    "required": False,
    "customer": "What could we have done better?",
}


async def counts() -> dict[str, int]:
    return {t.__name__: await t.count() for t in (Department, Journey, Step, Survey, Question)}


async def organisation(client) -> None:
    """Two departments, one journey with one step, through the API itself."""
    for key, name in (("support", "Customer Support"), ("shop", "Web Shop")):
        r = await client.post("/api/departments", json={"key": key, "name": name})
        assert r.status_code == 201, r.text
    r = await client.post("/api/journeys", json={"key": "get-help", "name": "Get help"})
    assert r.status_code == 201, r.text
    r = await client.post(
        "/api/steps",
        json={
            "key": "ticket-resolved",
            "name": "Your request is resolved",
            "journey": "get-help",
            "department": "support",
            "moment_of_truth": True,
        },
    )
    assert r.status_code == 201, r.text


async def answer_survey(step_key: str) -> None:
    """A customer answers the step's active survey (rows written directly, as ingest would)."""
    survey = await Survey.select().where(Survey.step.key == step_key, Survey.active == True).first()
    question = (
        await Question.select()
        .where(Question.survey == survey["id"], Question.key == "csat")
        .first()
    )
    response = await Response.insert(
        Response(
            survey=survey["id"],
            step=survey["step"],
            source="unsolicited",
            submitted_at=datetime.now(UTC),
        )
    ).returning(Response.id)
    await Answer.insert(Answer(response=response[0]["id"], question=question["id"], score=4))


# --- who may use it --------------------------------------------------------------------------


async def test_anonymous_is_401(client, db):
    assert (await client.get("/api/journeys")).status_code == 401
    # With a valid CSRF token, so that the refusal comes from the guard.
    await client.get("/login")
    client.headers["x-csrftoken"] = client.cookies.get("lp_csrf")
    r = await client.post("/api/departments", json={"key": "x", "name": "X"})
    assert r.status_code == 401
    assert await Department.count() == 0


@pytest.mark.parametrize("roles", [["employee"], ["executive"], ["employee", "executive"]])
async def test_employee_and_executive_sessions_are_403(client, db, roles):
    from surveys.accounts import create_user

    await Department.insert(Department(key="support", name="Support"))
    await create_user(
        email="someone@example.com",
        name="Some One",
        roles=roles,
        password=PASSWORD,
        department_key="support",
    )
    await login(client, "someone@example.com", PASSWORD)
    assert (await client.get("/api/departments")).status_code == 403
    r = await client.post("/api/departments", json={"key": "x", "name": "X"})
    assert r.status_code == 403
    r = await client.delete("/api/departments/support")
    assert r.status_code == 403
    assert (await Department.select(Department.active).first())["active"] is True


async def test_admin_key_works_without_csrf(client, admin_key):
    headers = {"Authorization": f"Bearer {admin_key}"}
    r = await client.post("/api/departments", json={"key": "ops", "name": "Ops"}, headers=headers)
    assert r.status_code == 201, r.text
    r = await client.get("/api/departments/ops", headers=headers)
    assert r.json() == {"key": "ops", "name": "Ops", "active": True, "follow_up_email": None}


async def test_session_write_without_csrf_token_is_refused(admin_client):
    del admin_client.headers["x-csrftoken"]
    r = await admin_client.post("/api/departments", json={"key": "ops", "name": "Ops"})
    assert r.status_code == 403
    assert await Department.count() == 0


# --- departments -----------------------------------------------------------------------------


async def test_department_lifecycle(admin_client):
    r = await admin_client.post(
        "/api/departments",
        json={"key": "support", "name": "Support", "follow_up_email": "lead@example.com"},
    )
    assert r.status_code == 201
    assert r.json() == {
        "key": "support",
        "name": "Support",
        "active": True,
        "follow_up_email": "lead@example.com",
    }
    r = await admin_client.patch("/api/departments/support", json={"name": "Customer Support"})
    assert r.status_code == 200
    # A partial update leaves the other fields alone.
    assert r.json()["follow_up_email"] == "lead@example.com"
    assert r.json()["name"] == "Customer Support"

    r = await admin_client.delete("/api/departments/support")
    assert r.status_code == 200
    assert r.json()["active"] is False
    row = await Department.select().where(Department.key == "support").first()
    assert row["active"] is False and row["name"] == "Customer Support"

    r = await admin_client.patch("/api/departments/support", json={"active": True})
    assert r.json()["active"] is True


async def test_departments_list_by_key(admin_client):
    for key in ("shop", "billing", "support"):
        await admin_client.post("/api/departments", json={"key": key, "name": key.title()})
    r = await admin_client.get("/api/departments")
    assert [d["key"] for d in r.json()] == ["billing", "shop", "support"]


async def test_duplicate_key_is_409(admin_client):
    await admin_client.post("/api/departments", json={"key": "support", "name": "Support"})
    r = await admin_client.post("/api/departments", json={"key": "support", "name": "Other"})
    assert r.status_code == 409
    assert r.json()["field"] == "key"
    assert (await Department.select(Department.name).first())["name"] == "Support"


async def test_unknown_key_in_path_is_404(admin_client):
    for path in (
        "/api/departments/nowhere",
        "/api/journeys/nowhere",
        "/api/steps/nowhere",
        "/api/surveys/nowhere",
        "/api/surveys/nowhere/versions",
    ):
        r = await admin_client.get(path)
        assert r.status_code == 404, path
        assert r.json()["field"] in ("key", "step_key")
    r = await admin_client.patch("/api/departments/nowhere", json={"name": "X"})
    assert r.status_code == 404
    r = await admin_client.delete("/api/steps/nowhere")
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "has space", "name": "X"}, "key"),
        ({"key": "x" * 101, "name": "X"}, "key"),
        ({"key": "ok", "name": ""}, "name"),
        ({"key": "ok", "name": "y" * 201}, "name"),
        ({"key": "ok"}, "`name`"),
        ({"key": "ok", "name": 3}, "name"),
        ({"key": "ok", "name": "X", "follow_up_email": "not-an-address"}, "follow_up_email"),
        ({"key": "ok", "name": "X", "colour": "red"}, "`colour`"),
    ],
)
async def test_bad_department_body_is_400_naming_the_field(admin_client, body, field):
    r = await admin_client.post("/api/departments", json=body)
    assert r.status_code == 400
    if field.startswith("`"):
        # A missing or unknown field is named in the message (msgspec reports it on the body).
        assert field in r.json()["extra"][0]["message"]
    else:
        assert r.json()["field"] == field
    assert await Department.count() == 0


async def test_nul_byte_in_text_is_refused(admin_client):
    r = await admin_client.post("/api/departments", json={"key": "ok", "name": "Sup\x00port"})
    assert r.status_code == 422
    assert r.json()["field"] == "name"
    assert await Department.count() == 0


async def test_key_cannot_be_changed_by_patch(admin_client):
    await admin_client.post("/api/departments", json={"key": "support", "name": "Support"})
    r = await admin_client.patch("/api/departments/support", json={"key": "help"})
    assert r.status_code == 400
    assert await Department.exists().where(Department.key == "support")


# --- journeys and steps ----------------------------------------------------------------------


async def test_journeys_list_by_position_and_append_by_default(admin_client):
    await admin_client.post("/api/journeys", json={"key": "buy", "name": "Buy"})
    await admin_client.post("/api/journeys", json={"key": "get-help", "name": "Get help"})
    r = await admin_client.post(
        "/api/journeys", json={"key": "discover", "name": "Discover", "position": 0}
    )
    assert r.json()["position"] == 0
    await admin_client.patch("/api/journeys/buy", json={"position": 5})
    keys = [j["key"] for j in (await admin_client.get("/api/journeys")).json()]
    # buy was 0 and moved to 5; get-help was appended at 1; discover ties nothing at 0.
    assert keys == ["discover", "get-help", "buy"]
    r = await admin_client.delete("/api/journeys/buy")
    assert r.json() == {"key": "buy", "name": "Buy", "position": 5, "active": False}


async def test_steps_are_listed_by_journey_then_position(admin_client):
    await admin_client.post("/api/departments", json={"key": "shop", "name": "Shop"})
    await admin_client.post("/api/journeys", json={"key": "second", "name": "S", "position": 2})
    await admin_client.post("/api/journeys", json={"key": "first", "name": "F", "position": 1})
    for key, journey in (("s1", "second"), ("f1", "first"), ("s2", "second"), ("f2", "first")):
        r = await admin_client.post(
            "/api/steps",
            json={"key": key, "name": key, "journey": journey, "department": "shop"},
        )
        assert r.status_code == 201, r.text
    steps = (await admin_client.get("/api/steps")).json()
    assert [(s["key"], s["journey"], s["position"]) for s in steps] == [
        ("f1", "first", 0),
        ("f2", "first", 1),
        ("s1", "second", 0),
        ("s2", "second", 1),
    ]
    # Moved to another journey without a position, a step goes last there.
    r = await admin_client.patch("/api/steps/s1", json={"journey": "first"})
    assert (r.json()["journey"], r.json()["position"]) == ("first", 2)


async def test_step_fields_and_partial_update(admin_client):
    await organisation(admin_client)
    r = await admin_client.get("/api/steps/ticket-resolved")
    assert r.json() == {
        "key": "ticket-resolved",
        "name": "Your request is resolved",
        "journey": "get-help",
        "position": 0,
        "department": "support",
        "moment_of_truth": True,
        "active": True,
    }
    r = await admin_client.patch(
        "/api/steps/ticket-resolved", json={"department": "shop", "moment_of_truth": False}
    )
    assert r.status_code == 200
    assert (r.json()["department"], r.json()["moment_of_truth"]) == ("shop", False)
    assert r.json()["name"] == "Your request is resolved"


@pytest.mark.parametrize("field", ["department", "journey"])
async def test_unknown_reference_in_body_is_422_and_writes_nothing(admin_client, field):
    await organisation(admin_client)
    before = await counts()
    body = {"key": "new-step", "name": "New", "journey": "get-help", "department": "support"}
    body[field] = "nowhere"
    r = await admin_client.post("/api/steps", json=body)
    assert r.status_code == 422
    assert r.json()["field"] == field
    assert await counts() == before

    r = await admin_client.patch("/api/steps/ticket-resolved", json={field: "nowhere", "name": "Z"})
    assert r.status_code == 422
    assert r.json()["field"] == field
    # The valid half of the update was not written either.
    assert (await admin_client.get("/api/steps/ticket-resolved")).json()["name"] != "Z"


async def test_deactivating_an_answered_step_keeps_every_row(admin_client):
    await organisation(admin_client)
    await admin_client.post("/api/surveys", json={"step": "ticket-resolved", "questions": [CSAT]})
    await answer_survey("ticket-resolved")
    before = await counts()
    for path in (
        "/api/surveys/ticket-resolved",
        "/api/steps/ticket-resolved",
        "/api/departments/support",
        "/api/journeys/get-help",
    ):
        r = await admin_client.delete(path)
        assert r.status_code == 200, path
        assert r.json()["active"] is False
    assert await counts() == before
    assert await Answer.count() == 1


# --- surveys ---------------------------------------------------------------------------------


async def test_create_and_read_a_survey(admin_client):
    await organisation(admin_client)
    r = await admin_client.post(
        "/api/surveys", json={"step": "ticket-resolved", "questions": [CSAT, COMMENT]}
    )
    assert r.status_code == 201, r.text
    survey = r.json()
    assert (survey["step"], survey["name"], survey["version"], survey["active"]) == (
        "ticket-resolved",
        "Your request is resolved",
        1,
        True,
    )
    assert [q["key"] for q in survey["questions"]] == ["csat", "comment"]
    assert survey["questions"][0]["customer"] == {"en": CSAT["customer"]}
    assert survey["questions"][0]["employee"] == CSAT["employee"]
    assert survey["questions"][1]["required"] is False
    assert (await admin_client.get("/api/surveys/ticket-resolved")).json() == survey
    assert (await admin_client.get("/api/surveys")).json() == [survey]

    r = await admin_client.post(
        "/api/surveys", json={"step": "ticket-resolved", "questions": [CSAT]}
    )
    assert r.status_code == 409
    assert r.json()["field"] == "step"


@pytest.mark.parametrize(
    ("question", "field"),
    [
        ({k: v for k, v in CSAT.items() if k != "employee"}, "questions[0].employee"),
        ({**CSAT, "kind": "choice"}, "questions[0].options"),
    ],
)
async def test_invalid_question_is_422_naming_it_and_writes_nothing(admin_client, question, field):
    await organisation(admin_client)
    before = await counts()
    r = await admin_client.post(
        "/api/surveys", json={"step": "ticket-resolved", "questions": [question]}
    )
    assert r.status_code == 422
    assert r.json()["field"] == field
    assert await counts() == before


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"step": "nowhere", "questions": [CSAT]}, 422, "step"),
        ({"step": "ticket-resolved", "questions": []}, 400, "questions"),
        ({"step": "ticket-resolved", "questions": [CSAT, CSAT]}, 422, "questions"),
        (
            {"step": "ticket-resolved", "questions": [{**CSAT, "kind": "stars"}]},
            400,
            "questions[0].kind",
        ),
        (
            {"step": "ticket-resolved", "questions": [{**CSAT, "customer": "a\x00b"}]},
            422,
            "questions[0].customer",
        ),
    ],
)
async def test_bad_survey_body_names_the_field(admin_client, body, status, field):
    await organisation(admin_client)
    r = await admin_client.post("/api/surveys", json=body)
    assert r.status_code == status, r.text
    assert r.json()["field"] == field
    assert await Survey.count() == 0


async def test_rewording_an_unanswered_survey_edits_it_in_place(admin_client):
    await organisation(admin_client)
    await admin_client.post("/api/surveys", json={"step": "ticket-resolved", "questions": [CSAT]})
    reworded = {**CSAT, "customer": "How satisfied are you with our help?"}
    r = await admin_client.patch("/api/surveys/ticket-resolved", json={"questions": [reworded]})
    assert r.status_code == 200
    assert r.json()["version"] == 1
    assert r.json()["questions"][0]["customer"] == {"en": "How satisfied are you with our help?"}
    assert await Survey.count() == 1


async def test_rewording_an_answered_survey_makes_a_new_version(admin_client):
    await organisation(admin_client)
    await admin_client.post("/api/surveys", json={"step": "ticket-resolved", "questions": [CSAT]})
    await answer_survey("ticket-resolved")
    reworded = {**CSAT, "customer": "How satisfied are you with our help?"}
    r = await admin_client.patch(
        "/api/surveys/ticket-resolved", json={"questions": [reworded, COMMENT]}
    )
    assert r.status_code == 200
    assert (r.json()["version"], r.json()["active"]) == (2, True)

    versions = (await admin_client.get("/api/surveys/ticket-resolved/versions")).json()
    assert [(v["version"], v["active"]) for v in versions] == [(1, False), (2, True)]
    old = (await admin_client.get("/api/surveys/ticket-resolved/versions/1")).json()
    assert old["questions"][0]["customer"] == {"en": CSAT["customer"]}
    assert [q["key"] for q in old["questions"]] == ["csat"]
    r = await admin_client.get("/api/surveys/ticket-resolved/versions/7")
    assert (r.status_code, r.json()["field"]) == (404, "version")


async def test_renaming_or_rethresholding_an_answered_survey_keeps_the_version(admin_client):
    await organisation(admin_client)
    await admin_client.post("/api/surveys", json={"step": "ticket-resolved", "questions": [CSAT]})
    await answer_survey("ticket-resolved")
    r = await admin_client.patch("/api/surveys/ticket-resolved", json={"name": "After help"})
    assert (r.json()["name"], r.json()["version"]) == ("After help", 1)
    r = await admin_client.patch(
        "/api/surveys/ticket-resolved", json={"questions": [{**CSAT, "alert_threshold": 1}]}
    )
    assert r.json()["version"] == 1
    assert r.json()["questions"][0]["alert_threshold"] == 1
    assert await Survey.count() == 1


async def test_api_and_journey_file_agree_on_versions(admin_client):
    # A survey loaded from the file and sent back unchanged through the API is the same survey.
    await load_journey(
        {
            "departments": [{"key": "support", "name": "Support"}],
            "journeys": [
                {
                    "key": "get-help",
                    "name": "Get help",
                    "steps": [
                        {
                            "key": "ticket-resolved",
                            "name": "Resolved",
                            "department": "support",
                            "questions": [CSAT, COMMENT],
                        }
                    ],
                }
            ],
        }
    )
    await answer_survey("ticket-resolved")
    survey = (await admin_client.get("/api/surveys/ticket-resolved")).json()
    questions = [
        {k: v for k, v in q.items() if k != "position" and v is not None}
        for q in survey["questions"]
    ]
    for q in questions:
        if q["kind"] != "choice":
            q.pop("options")
    r = await admin_client.patch("/api/surveys/ticket-resolved", json={"questions": questions})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1
    assert await Survey.count() == 1


async def test_deactivated_survey_is_listed_no_more_and_comes_back_as_a_new_version(
    admin_client,
):
    await organisation(admin_client)
    await admin_client.post("/api/surveys", json={"step": "ticket-resolved", "questions": [CSAT]})
    r = await admin_client.delete("/api/surveys/ticket-resolved")
    assert (r.status_code, r.json()["active"]) == (200, False)
    assert (await admin_client.get("/api/surveys")).json() == []
    assert (await admin_client.get("/api/surveys/ticket-resolved")).json()["active"] is False

    r = await admin_client.post(
        "/api/surveys", json={"step": "ticket-resolved", "questions": [CSAT]}
    )
    assert r.status_code == 201
    assert (r.json()["version"], r.json()["active"]) == (2, True)


async def test_surveys_are_listed_in_journey_order(admin_client):
    await organisation(admin_client)
    await admin_client.post(
        "/api/steps",
        json={
            "key": "first",
            "name": "First",
            "journey": "get-help",
            "department": "shop",
            "position": 0,
        },
    )
    await admin_client.patch("/api/steps/ticket-resolved", json={"position": 1})
    for step in ("ticket-resolved", "first"):
        await admin_client.post("/api/surveys", json={"step": step, "questions": [CSAT]})
    keys = [s["step"] for s in (await admin_client.get("/api/surveys")).json()]
    assert keys == ["first", "ticket-resolved"]


async def test_openapi_documents_the_constraints(client, db):
    schema = (await client.get("/schema/openapi.json")).json()
    create = schema["components"]["schemas"]["DepartmentCreate"]
    assert create["properties"]["key"]["maxLength"] == 100
    assert "pattern" in create["properties"]["key"]
    assert "/api/surveys/{step_key}/versions" in schema["paths"]
