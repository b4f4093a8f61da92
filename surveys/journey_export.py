"""The organisation as a journey document: what `surveys.journey_file` loads, written back.

Loading an export changes nothing. Inactive departments, journeys and steps are left out (the
file format has no way to say "inactive", and loading leaves what a file omits alone). The loader
numbers journeys and steps 0, 1, 2… in file order, as the console's reordering does; positions
set otherwise through the API are renumbered by a load, in the same order.
"""

from __future__ import annotations

from typing import Any

from surveys import catalog, schemas
from surveys.organisation import current_organisation, organisation_table


def _question(q: schemas.Question) -> dict[str, Any]:
    out: dict[str, Any] = {"key": q.key, "kind": q.kind, "customer": dict(q.customer)}
    if q.employee is not None:
        out["employee"] = q.employee
    for name in ("low_label", "high_label", "alert_threshold"):
        if getattr(q, name) is not None:
            out[name] = getattr(q, name)
    if q.options:
        out["options"] = list(q.options)
    if not q.required:
        out["required"] = False
    if not q.higher_is_better:
        out["higher_is_better"] = False
    return out


async def organisation_document() -> dict[str, Any]:
    """Active departments and journeys with their steps and surveys, as the journey file holds
    them: `[organisation]` (once one was loaded), `[[departments]]`, `[[journeys]]`,
    `[[journeys.steps]]` and their questions."""
    departments = [
        {"key": d.key, "name": d.name}
        | ({"follow_up_email": d.follow_up_email} if d.follow_up_email else {})
        for d in await catalog.list_departments()
        if d.active
    ]
    organisation = await current_organisation()
    surveys = {s.step: s for s in await catalog.list_surveys()}
    steps = [s for s in await catalog.list_steps() if s.active]
    journeys = []
    for journey in await catalog.list_journeys():
        if not journey.active:
            continue
        items = []
        for step in (s for s in steps if s.journey == journey.key):
            # A step named in several languages keeps them all, the default one first.
            names = organisation.step_names.get(step.key)
            item: dict[str, Any] = {
                "key": step.key,
                "name": dict(names) if names else step.name,
                "department": step.department,
            }
            if step.moment_of_truth:
                item["moment_of_truth"] = True
            survey = surveys.get(step.key)
            if survey is not None:
                if survey.name != step.name:
                    item["survey"] = survey.name
                item["questions"] = [_question(q) for q in survey.questions]
                if survey.email:
                    item["email"] = {tag: dict(texts) for tag, texts in survey.email.items()}
            items.append(item)
        journeys.append({"key": journey.key, "name": journey.name, "steps": items})
    document: dict[str, Any] = {"departments": departments, "journeys": journeys}
    if organisation.version:  # loaded once: an `[organisation]` table exists to write back
        document = {"organisation": organisation_table(organisation), **document}
    return document
