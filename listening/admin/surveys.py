"""The survey editor: one step's questions in order, each customer wording beside the mirrored
employee wording on the same scale, with translations, end labels and alert thresholds, and a
preview of the customer's and the employee's page before saving.

Saving goes through `surveys.catalog` (the journey file's checks and versioning): changed
questions on an answered survey make a new version, which the editor says before saving.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from listening.admin.console import NO_STORE, Section, actor, convert, errors_of, page, text
from surveys import catalog, schemas
from surveys.answers import asked_question
from surveys.clock import Clock
from surveys.errors import DomainError, Invalid, NotFound
from surveys.journey_file import check_questions
from surveys.languages import Wording
from surveys.organisation import current_organisation
from surveys.scales import KINDS, SCALES

SECTION = Section(
    "/admin/surveys",
    "Surveys",
    20,
    "Each step's survey: questions in order, the customer wording beside the mirrored "
    "employee wording, translations, alert thresholds, with a preview; answered surveys get a "
    "new version.",
)
BLANK_TRANSLATIONS = 1  # empty locale rows offered under each question


def _blank_question() -> dict[str, Any]:
    return {
        "key": "",
        "kind": "csat",
        "customer": [],
        "employee": "",
        "low_label": "",
        "high_label": "",
        "options": "",
        "required": True,
        "higher_is_better": True,
        "alert_threshold": "",
    }


def _editable(question: schemas.Question | dict[str, Any]) -> dict[str, Any]:
    """A stored or checked question as the form shows it."""
    q = msgspec.structs.asdict(question) if isinstance(question, msgspec.Struct) else question
    return {
        "key": q["key"],
        "kind": q["kind"],
        "customer": list(q["customer"].items()),
        "employee": q["employee"] or "",
        "low_label": q["low_label"] or "",
        "high_label": q["high_label"] or "",
        "options": "\n".join(q["options"]),
        "required": q["required"],
        "higher_is_better": q["higher_is_better"],
        "alert_threshold": "" if q["alert_threshold"] is None else str(q["alert_threshold"]),
    }


def _read_questions(form: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The form's questions in their new order: (as the form shows them, as the API takes them).

    Removed questions and the empty question at the end are left out.
    """
    try:
        count = min(int(form.get("count") or 0), 60)
    except ValueError:
        count = 0
    rows = []
    for n in range(count):
        p = f"q{n}."
        if form.get(p + "remove") == "on":
            continue
        try:
            locales = min(int(form.get(p + "locales") or 0), 25)
        except ValueError:
            locales = 0
        pairs = [(text(form, f"{p}locale.{m}"), text(form, f"{p}text.{m}")) for m in range(locales)]
        shown = {
            "key": text(form, p + "key"),
            "kind": text(form, p + "kind"),
            # A language without words is an unused row (the page offers one, "en" first).
            "customer": [(loc, words) for loc, words in pairs if words],
            "employee": text(form, p + "employee"),
            "low_label": text(form, p + "low_label"),
            "high_label": text(form, p + "high_label"),
            "options": text(form, p + "options"),
            "required": form.get(p + "required") == "on",
            "higher_is_better": form.get(p + "higher_is_better") == "on",
            "alert_threshold": text(form, p + "alert_threshold"),
        }
        if not shown["key"] and not shown["customer"] and not shown["employee"]:
            continue  # the empty question offered for adding one
        try:
            position = float(text(form, p + "position") or n)
        except ValueError:
            position = n
        rows.append((position, n, shown))
    shown_rows = [r[2] for r in sorted(rows, key=lambda r: (r[0], r[1]))]
    return shown_rows, [_api_question(q) for q in shown_rows]


def _api_question(q: dict[str, Any]) -> dict[str, Any]:
    threshold: Any = q["alert_threshold"] or None
    if threshold is not None and threshold.lstrip("-").isdigit():
        threshold = int(threshold)  # other text is left for the check, which names the field
    return {
        "key": q["key"],
        "kind": q["kind"],
        "customer": dict(q["customer"]) or "",
        "employee": q["employee"] or None,
        "low_label": q["low_label"] or None,
        "high_label": q["high_label"] or None,
        "options": [line.strip() for line in q["options"].splitlines() if line.strip()],
        "required": q["required"],
        "higher_is_better": q["higher_is_better"],
        "alert_threshold": threshold,
    }


async def _check(name: str, questions: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    """The SurveyUpdate and the checked questions, or Invalid naming the question's field."""
    if not questions:
        raise Invalid("A survey needs at least one question.", field="questions")
    data = convert({"name": name, "questions": questions}, schemas.SurveyUpdate)
    locale = (await current_organisation()).default_locale
    return data, check_questions(msgspec.to_builtins(data.questions), locale=locale)


async def _preview(questions: list[dict[str, Any]], locale: str | None) -> dict[str, Any]:
    """What the customer and the employee would be asked, as the pages word it."""
    customer = [asked_question({**q, "id": 0}, [locale]) for q in questions]
    # The words around the questions follow the language the questions are shown in.
    shown_in = next((q.locale for q in customer if q.locale), locale)
    words = Wording.of(shown_in, await current_organisation())
    employee = [
        asked_question({**q, "id": 0, "customer": {"en": q["employee"]}}, [])
        for q in questions
        if q["kind"] in SCALES
    ]
    locales = sorted({loc for q in questions for loc in q["customer"]})
    return {
        "customer": customer,
        "employee": employee,
        "locales": locales,
        "locale": locale,
        "words": words.html,
        "lang": words.lang,
    }


async def _page(
    request: Request,
    step_key: str,
    *,
    name: str | None = None,
    questions: list[dict[str, Any]] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    preview: dict[str, Any] | None = None,
    new_version: bool = False,
    status_code: int = 200,
) -> Template:
    step = await catalog.get_step(step_key)
    try:
        survey = await catalog.get_survey(step_key)
    except NotFound:
        survey = None
    shown = (
        questions
        if questions is not None
        else [_editable(q) for q in (survey.questions if survey else [])]
    )
    return page(
        request,
        "admin/survey_edit.html",
        SECTION,
        status_code=status_code,
        step=step,
        survey=survey,
        answered=await catalog.survey_answered(step_key),
        name=name if name is not None else (survey.name if survey else step.name),
        questions=[*shown, _blank_question()],
        blank_translations=BLANK_TRANSLATIONS,
        default_locale=(await current_organisation()).default_locale,
        kinds=KINDS,
        scales=SCALES,
        errors=errors or {},
        notice=notice,
        preview=preview,
        new_version=new_version,
    )


@get("/admin/surveys", include_in_schema=False, cache_control=NO_STORE)
async def surveys_page(request: Request) -> Template:
    """Every step with its survey's version and question count."""
    surveys = {s.step: s for s in await catalog.list_surveys()}
    return page(
        request,
        "admin/surveys.html",
        SECTION,
        steps=await catalog.list_steps(),
        surveys=surveys,
    )


@get("/admin/surveys/{step_key:str}", include_in_schema=False, cache_control=NO_STORE)
async def edit_page(
    request: Request,
    step_key: FromPath[str],
    saved: FromQuery[str] = "",
    new: FromQuery[str] = "",
) -> Template:
    """The step's survey in the editor."""
    notice = None
    if saved:
        notice = f"Saved as version {saved}."
    elif new:
        notice = "The step was added. Give it a survey: its questions and their mirrored wording."
    return await _page(request, step_key, notice=notice)


@post("/admin/surveys/{step_key:str}", include_in_schema=False, status_code=303)
async def save(request: Request, step_key: FromPath[str], clock: NamedDependency[Clock]) -> Any:
    """Preview the form's survey, or save it (a new version when answered questions change)."""
    form = await request.form()
    name = text(form, "name")
    shown, questions = _read_questions(form)
    try:
        data, checked = await _check(name, questions)
        try:
            current = await catalog.get_survey(step_key)
        except NotFound:
            current = None
        changes = current is None or catalog.would_change_questions(current, checked)
        new_version = bool(current and changes and await catalog.survey_answered(step_key))
        if form.get("do") == "preview":
            locale = text(form, "preview_locale") or None
            return await _page(
                request,
                step_key,
                name=name,
                questions=shown,
                preview=await _preview(checked, locale),
                new_version=new_version,
            )
        if current is None or not current.active:
            create = schemas.SurveyCreate(step=step_key, name=name, questions=data.questions)
            saved = await catalog.create_survey(create, clock=clock, actor=actor(request))
        else:
            saved = await catalog.update_survey(step_key, data, clock=clock, actor=actor(request))
    except DomainError as exc:
        return await _page(
            request,
            step_key,
            name=name,
            questions=shown,
            errors=errors_of(exc),
            status_code=exc.status_code,
        )
    return Redirect(path=f"/admin/surveys/{step_key}?saved={saved.version}", status_code=303)


CONTROLLERS = [surveys_page, edit_page, save]
