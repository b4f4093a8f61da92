"""Journey as code: departments, journeys, steps, surveys and questions from one TOML file.

Loading is one transaction and idempotent: the same file twice changes nothing. Changing a
question's wording or scale on a survey that already has answers creates a new survey version, so
old answers keep the questions they were given on.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from surveys.clock import Clock, system_clock
from surveys.errors import Invalid
from surveys.invitation_text import check_survey_email, stored_email
from surveys.organisation import apply_organisation, check_organisation, default_locale_of
from surveys.tables import (
    Answer,
    Department,
    Journey,
    Question,
    SelfRatingScore,
    Step,
    Survey,
)

RATING_KINDS = ("csat", "ces", "nps", "likert5", "likert7")
KINDS = (*RATING_KINDS, "choice", "text")
KEY_MAX = 100


@dataclass
class LoadSummary:
    """What a load created, changed and left alone, by kind of object."""

    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    new_survey_versions: list[str] = field(default_factory=list)

    def count(self, outcome: str, kind: str) -> None:
        """Count one object of `kind` as created, updated or unchanged."""
        bucket = getattr(self, outcome)
        bucket[kind] = bucket.get(kind, 0) + 1

    @property
    def changed(self) -> bool:
        """Whether the load wrote anything."""
        return bool(self.created or self.updated)


def parse_toml(source: str | Path | dict) -> dict[str, Any]:
    """The document as a dict; a syntax error names its line and column."""
    if isinstance(source, dict):
        return source
    if isinstance(source, Path):
        try:
            text = source.read_text(encoding="utf-8")
        except OSError as exc:
            raise Invalid(f"cannot read {source}: {exc.strerror}", field="file") from None
        except UnicodeDecodeError:
            raise Invalid(f"{source} is not UTF-8 text", field="file") from None
    else:
        text = source
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise Invalid(f"TOML syntax error: {exc}", field="file") from None


# --- validation: turns the document into plain, checked specs --------------------------------


def _table_list(doc: dict, name: str, where: str) -> list[dict]:
    value = doc.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise Invalid(
            f"{where}{name} must be an array of tables ([[{name}]])", field=f"{where}{name}"
        )
    return value


def _text(
    item: dict, key: str, where: str, *, required: bool = True, limit: int = 200
) -> str | None:
    value = item.get(key)
    if value is None:
        if required:
            raise Invalid(f"{where}.{key} is required", field=f"{where}.{key}")
        return None
    if not isinstance(value, str) or not value.strip():
        raise Invalid(f"{where}.{key} must be a non-empty string", field=f"{where}.{key}")
    if len(value) > limit or "\x00" in value:
        raise Invalid(f"{where}.{key} is longer than {limit} characters", field=f"{where}.{key}")
    return value


def _key(item: dict, where: str) -> str:
    key = _text(item, "key", where, limit=KEY_MAX)
    assert key is not None
    if not all(c.isalnum() or c in "-_." for c in key):
        raise Invalid(
            f"{where}.key may hold letters, digits, '-', '_' and '.' only", field=f"{where}.key"
        )
    return key


def _bool(item: dict, key: str, where: str, default: bool) -> bool:
    value = item.get(key, default)
    if not isinstance(value, bool):
        raise Invalid(f"{where}.{key} must be true or false", field=f"{where}.{key}")
    return value


def _wording(
    item: dict, name: str, where: str, locale: str, *, limit: int = 2000
) -> dict[str, str]:
    """A text in one language (`locale`, the file's default) or a table of locale = text."""
    value = item.get(name)
    if isinstance(value, str) and value.strip():
        return {locale: _text(item, name, where, limit=limit) or ""}
    if isinstance(value, dict) and value:
        for tag, text in value.items():
            if not isinstance(text, str) or not text.strip() or len(text) > limit:
                raise Invalid(
                    f"{where}.{name}.{tag} must be a non-empty string of at most {limit} "
                    "characters",
                    field=f"{where}.{name}",
                )
        return dict(value)
    raise Invalid(
        f"{where}.{name} is required: a string, or a table of locale = text",
        field=f"{where}.{name}",
    )


def _default_text(wording: dict[str, str], locale: str) -> str:
    """The text in the file's default language, else the first one given."""
    return wording.get(locale) or next(iter(wording.values()))


def question_spec(item: dict, where: str, position: int, locale: str = "en") -> dict[str, Any]:
    """A checked question: every rating kind needs its mirrored employee wording.

    A plain-string customer wording is in `locale`, the file's default language.
    """
    key = _key(item, where)
    kind = item.get("kind")
    if kind not in KINDS:
        raise Invalid(f"{where}.kind must be one of {', '.join(KINDS)}", field=f"{where}.kind")
    employee = _text(item, "employee", where, required=kind in RATING_KINDS, limit=2000)
    options: list[str] = []
    if kind == "choice":
        options = item.get("options") or []
        if (
            not isinstance(options, list)
            or not options
            or not all(isinstance(o, str) and o for o in options)
        ):
            raise Invalid(f"{where}.options must list the choices", field=f"{where}.options")
    threshold = item.get("alert_threshold")
    if threshold is not None and (not isinstance(threshold, int) or isinstance(threshold, bool)):
        raise Invalid(
            f"{where}.alert_threshold must be a whole number", field=f"{where}.alert_threshold"
        )
    return {
        "key": key,
        "kind": kind,
        "customer": _wording(item, "customer", where, locale),
        "employee": employee,
        "low_label": _text(item, "low_label", where, required=False),
        "high_label": _text(item, "high_label", where, required=False),
        "options": options,
        "required": _bool(item, "required", where, True),
        "position": position,
        "higher_is_better": _bool(item, "higher_is_better", where, True),
        "alert_threshold": threshold,
    }


def check_questions(
    items: list[dict], prefix: str = "", locale: str = "en"
) -> list[dict[str, Any]]:
    """A survey's checked questions in order; `prefix` says where they sit ("" for the API)."""
    questions = [
        question_spec(q, f"{prefix}questions[{n}]", n, locale) for n, q in enumerate(items)
    ]
    question_keys = [q["key"] for q in questions]
    if len(set(question_keys)) != len(question_keys):
        raise Invalid(
            f"{prefix}questions: question keys must be unique", field=f"{prefix}questions"
        )
    return questions


def check_document(doc: dict[str, Any]) -> dict[str, Any]:
    """Validate the whole document before anything is written; errors name the key at fault."""
    organisation = check_organisation(doc)
    locale = default_locale_of(doc)
    departments = []
    seen: set[str] = set()
    for i, item in enumerate(_table_list(doc, "departments", "")):
        where = f"departments[{i}]"
        key = _key(item, where)
        if key in seen:
            raise Invalid(f"{where}.key {key!r} appears twice", field=f"{where}.key")
        seen.add(key)
        departments.append(
            {
                "key": key,
                "name": _text(item, "name", where),
                "follow_up_email": _text(item, "follow_up_email", where, required=False, limit=320),
            }
        )
    journeys = []
    step_keys: set[str] = set()
    for j, item in enumerate(_table_list(doc, "journeys", "")):
        where = f"journeys[{j}]"
        steps = []
        for s, step in enumerate(_table_list(item, "steps", f"{where}.")):
            step_where = f"{where}.steps[{s}]"
            step_key = _key(step, step_where)
            if step_key in step_keys:
                raise Invalid(
                    f"{step_where}.key {step_key!r} appears twice", field=f"{step_where}.key"
                )
            step_keys.add(step_key)
            questions = check_questions(
                _table_list(step, "questions", f"{step_where}."), f"{step_where}.", locale
            )
            names = _wording(step, "name", step_where, locale, limit=200)
            steps.append(
                {
                    "key": step_key,
                    "name": _default_text(names, locale),
                    "names": names,
                    "department": _text(step, "department", step_where, limit=KEY_MAX),
                    "moment_of_truth": _bool(step, "moment_of_truth", step_where, False),
                    "survey_name": _text(step, "survey", step_where, required=False)
                    or _default_text(names, locale),
                    "position": s,
                    "questions": questions,
                    "email": check_survey_email(step.get("email"), f"{step_where}.email"),
                }
            )
        journeys.append(
            {
                "key": _key(item, where),
                "name": _text(item, "name", where),
                "position": j,
                "steps": steps,
            }
        )
    return {"departments": departments, "journeys": journeys, "organisation": organisation}


def survey_fingerprint(questions: list[dict[str, Any]]) -> str:
    """A hash of what a customer and an employee are asked; a change means a new version."""
    canonical = json.dumps(
        [{k: v for k, v in q.items() if k != "alert_threshold"} for q in questions],
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- writing ---------------------------------------------------------------------------------


async def _upsert(table, key: str, values: dict[str, Any], summary: LoadSummary, kind: str) -> int:
    row = await table.select().where(table.key == key).first()
    if row is None:
        created = await table.insert(table(key=key, **values)).returning(table.id)
        summary.count("created", kind)
        return created[0]["id"]
    changes = {k: v for k, v in values.items() if row.get(k) != v}
    if changes:
        await table.update(changes).where(table.id == row["id"])
        summary.count("updated", kind)
    else:
        summary.count("unchanged", kind)
    return row["id"]


async def _survey_has_answers(survey_id: int) -> bool:
    if await Answer.exists().where(Answer.question.survey == survey_id):
        return True
    return await SelfRatingScore.exists().where(SelfRatingScore.question.survey == survey_id)


async def _insert_questions(survey_id: int, questions: list[dict[str, Any]]) -> None:
    rows = [
        Question(
            survey=survey_id,
            **{
                **q,
                "customer": json.dumps(q["customer"], ensure_ascii=False),
                "options": json.dumps(q["options"], ensure_ascii=False),
            },
        )
        for q in questions
    ]
    if rows:
        await Question.insert(*rows)


async def sync_survey(
    step_id: int, step: dict[str, Any], summary: LoadSummary, clock: Clock
) -> int:
    """Bring a step's active survey in line with `step` (its "key", "survey_name", "questions"
    and, when given, "email": the invitation email's own sentences).

    Same questions: nothing but the name, the email's sentences and alert thresholds change (in
    place: they do not change what is asked). A new version carries the email's sentences on.
    Changed questions on a survey nobody answered: edited in place. Changed questions on an
    answered survey, or no active survey: a new version. Returns the id of the step's active
    survey; call inside a transaction.
    """
    fingerprint = survey_fingerprint(step["questions"])
    email = step.get("email")
    current = (
        await Survey.select()
        .where((Survey.step == step_id) & (Survey.active == True))
        .order_by(Survey.version, ascending=False)
        .first()
    )
    if current is None:
        latest = (
            await Survey.select(Survey.version, Survey.email)
            .where(Survey.step == step_id)
            .order_by(Survey.version, ascending=False)
            .first()
        )
        version = latest["version"] + 1 if latest else 1
        carried = stored_email(latest["email"]) if latest else {}
    elif current["fingerprint"] == fingerprint:
        await _sync_thresholds(current["id"], step["questions"])
        changes = {}
        if current["name"] != step["survey_name"]:
            changes[Survey.name] = step["survey_name"]
        if email is not None and stored_email(current["email"]) != email:
            changes[Survey.email] = json.dumps(email, ensure_ascii=False)
        if changes:
            await Survey.update(changes).where(Survey.id == current["id"])
            summary.count("updated", "surveys")
        else:
            summary.count("unchanged", "surveys")
        return current["id"]
    elif await _survey_has_answers(current["id"]):
        await Survey.update({Survey.active: False}).where(Survey.id == current["id"])
        version = current["version"] + 1
        carried = stored_email(current["email"])
        summary.new_survey_versions.append(f"{step['key']} v{version}")
    else:
        # Nobody answered yet: edit in place rather than pile up empty versions.
        await Question.delete().where(Question.survey == current["id"])
        await _insert_questions(current["id"], step["questions"])
        changes = {Survey.fingerprint: fingerprint, Survey.name: step["survey_name"]}
        if email is not None:
            changes[Survey.email] = json.dumps(email, ensure_ascii=False)
        await Survey.update(changes).where(Survey.id == current["id"])
        summary.count("updated", "surveys")
        return current["id"]
    created = await Survey.insert(
        Survey(
            step=step_id,
            name=step["survey_name"],
            version=version,
            active=True,
            fingerprint=fingerprint,
            created_at=clock(),
            email=json.dumps(carried if email is None else email, ensure_ascii=False),
        )
    ).returning(Survey.id)
    await _insert_questions(created[0]["id"], step["questions"])
    summary.count("created", "surveys")
    return created[0]["id"]


async def _sync_thresholds(survey_id: int, questions: list[dict[str, Any]]) -> None:
    # Alert thresholds steer follow-ups, not what was asked: they change without a new version.
    for q in questions:
        await Question.update({Question.alert_threshold: q["alert_threshold"]}).where(
            (Question.survey == survey_id) & (Question.key == q["key"])
        )


async def apply_document(spec: dict[str, Any], *, clock: Clock = system_clock) -> LoadSummary:
    """Write a checked document; call inside a transaction (see `load_journey`)."""
    summary = LoadSummary()
    department_ids: dict[str, int] = {}
    for d in spec["departments"]:
        department_ids[d["key"]] = await _upsert(
            Department,
            d["key"],
            {"name": d["name"], "follow_up_email": d["follow_up_email"], "active": True},
            summary,
            "departments",
        )
    for j, journey in enumerate(spec["journeys"]):
        journey_id = await _upsert(
            Journey,
            journey["key"],
            {"name": journey["name"], "position": journey["position"], "active": True},
            summary,
            "journeys",
        )
        for s, step in enumerate(journey["steps"]):
            department_id = department_ids.get(step["department"])
            if department_id is None:
                row = (
                    await Department.select(Department.id)
                    .where(Department.key == step["department"])
                    .first()
                )
                if row is None:
                    where = f"journeys[{j}].steps[{s}].department"
                    raise Invalid(
                        f"{where}: unknown department {step['department']!r}", field=where
                    )
                department_id = row["id"]
            step_id = await _upsert(
                Step,
                step["key"],
                {
                    "name": step["name"],
                    "journey": journey_id,
                    "position": step["position"],
                    "department": department_id,
                    "moment_of_truth": step["moment_of_truth"],
                    "active": True,
                },
                summary,
                "steps",
            )
            await sync_survey(step_id, step, summary, clock)
    step_names = {
        # A name in one language only is the step's name; nothing to keep per locale.
        step["key"]: {tag.lower(): name for tag, name in step["names"].items()}
        if len(step["names"]) > 1
        else {}
        for journey in spec["journeys"]
        for step in journey["steps"]
    }
    outcome = await apply_organisation(spec.get("organisation"), step_names, clock=clock)
    summary.count(outcome, "organisation")
    return summary


async def load_journey(source: str | Path | dict, *, clock: Clock = system_clock) -> LoadSummary:
    """Load a journey document in one transaction; on any error nothing is written."""
    spec = check_document(parse_toml(source))
    async with Department._meta.db.transaction():
        return await apply_document(spec, clock=clock)
