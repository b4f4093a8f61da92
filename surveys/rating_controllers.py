"""HTTP for employee self-ratings and rating rounds: the /rate and /rounds pages and their API.

The shell mounts these lists with its guards: `RATING_CONTROLLERS` for employees,
`ROUND_ADMIN_CONTROLLERS` for admins, `ROUND_CONTROLLERS` for executives and admins
(its POST is narrowed to admins here).
No handler here returns another person's rating or comment: employees see only their own,
admins and executives only counts.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import msgspec
from litestar import Controller, MediaType, Request, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.datastructures import CacheControlHeader
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template

from surveys.anonymity import effective_comment_threshold, effective_threshold
from surveys.audit import actor_of, record
from surveys.clock import Clock
from surveys.errors import Conflict, Invalid
from surveys.local_time import (
    local_text,
    organisation_time_zone,
    round_form_values,
    to_local_input,
)
from surveys.parameters import RowId, RowIdQuery
from surveys.rating_schemas import (
    DepartmentParticipation,
    Erased,
    MyClosedRound,
    MyRatings,
    MySelfRating,
    RatingOverview,
    RatingRound,
    RoundCreate,
    RoundParticipation,
    RoundUpdate,
    SelfRatingCreate,
    StepToRateOut,
)
from surveys.rounds import (
    RoundInfo,
    close_round,
    create_round,
    create_round_from_form,
    extend_round,
    get_round,
    invite_employees,
    list_rounds,
    participation,
)
from surveys.self_ratings import (
    current_round,
    erase_mine,
    my_closed_rounds,
    my_ratings,
    step_to_rate,
    steps_to_rate,
    submit,
    upcoming_round,
)
from surveys.tables import Department

SCORE_PREFIX = "score."


def admins_only(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Within a router the shell already guards, let only admins through (POST /api/rounds).

    GET and POST /api/rounds share one path, so they share one controller and its router's
    guard (executives and admins); this narrows the POST to admins.
    """
    user = connection.scope.get("user")
    if user is None or not user.has("admin"):
        raise PermissionDeniedException("this needs the admin role")


def _me(request: Request) -> tuple[int, int]:
    # The employee guard has checked there is an account with a department.
    account = request.user.account
    return account.id, account.department_id


def round_out(info: RoundInfo, now: datetime) -> RatingRound:
    """The API shape of a round, with its status at `now`."""
    return msgspec.convert({**asdict(info), "status": info.status(now)}, RatingRound)


def form_scores(form: Any) -> dict[str, Any]:
    """Scores from form fields named `score.<question key>`, as sent (the service checks them)."""
    return {
        name[len(SCORE_PREFIX) :]: form.get(name) for name in form if name.startswith(SCORE_PREFIX)
    }


async def _rate_page(
    request: Request,
    clock: Clock,
    settings: Any,
    *,
    errors: dict[str, dict[str, str]] | None = None,
    values: dict[str, dict[str, Any]] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Template:
    employee_id, department_id = _me(request)
    open_round = await current_round(department_id, clock=clock)
    mine = await my_ratings(employee_id, clock=clock)
    current = {m.step: m for m in mine if open_round and m.round_id == open_round.id}
    closed = await my_closed_rounds(department_id, clock=clock)
    return Template(
        "surveys/rate.html",
        context={
            "account": request.user.account,
            "open_round": open_round,
            "next_round": None if open_round else await upcoming_round(department_id, clock=clock),
            "steps": await steps_to_rate(department_id),
            "current": current,
            "past": [m for m in mine if not (open_round and m.round_id == open_round.id)],
            "closed_rounds": closed,
            "errors": errors or {},
            "values": values or {},
            "notice": notice,
            "prefix": SCORE_PREFIX,
            "threshold": effective_threshold(settings.anonymity_threshold),
            "comment_threshold": effective_comment_threshold(
                settings.comment_threshold, settings.anonymity_threshold
            ),
        },
        status_code=status_code,
    )


class RatingPageController(Controller):
    """The employee's rating page: works without JavaScript, one form per step."""

    path = "/rate"
    include_in_schema = False
    # An employee's own answers must not stay in a shared computer's cache.
    cache_control = CacheControlHeader(no_store=True)

    @get("/")
    async def page(
        self,
        request: Request,
        clock: NamedDependency[Clock],
        settings: NamedDependency[Any],
        saved: FromQuery[str | None] = None,
    ) -> Template:
        """Show the steps to rate, the open round, and the employee's own answers."""
        notice = None
        if saved == "erased":
            notice = "Your answers were erased."
        elif saved:
            notice = "Thank you: your rating was saved. You can change it until the round closes."
        return await _rate_page(request, clock, settings, notice=notice)

    @post("/", status_code=303)
    async def rate(
        self, request: Request, clock: NamedDependency[Clock], settings: NamedDependency[Any]
    ) -> Template | Redirect:
        """Save one step's rating from the form."""
        employee_id, department_id = _me(request)
        form = await request.form()
        step = form.get("step") or ""
        scores = form_scores(form)
        try:
            await submit(
                employee_id=employee_id,
                department_id=department_id,
                step_key=step,
                answers=scores,
                comment=form.get("comment") or None,
                clock=clock,
            )
        except (Invalid, Conflict) as exc:
            return await _rate_page(
                request,
                clock,
                settings,
                errors={step: exc.errors or {"": exc.message}},
                values={step: {**scores, "comment": form.get("comment") or ""}},
                status_code=exc.status_code,
            )
        return Redirect(path=f"/rate?saved={step}#step-{step}", status_code=303)

    @post("/erase", status_code=303)
    async def erase(self, request: Request, clock: NamedDependency[Clock]) -> Redirect:
        """Erase the employee's own answers in rounds not yet closed (all, or one step's)."""
        employee_id, _ = _me(request)
        form = await request.form()
        await erase_mine(employee_id, step_key=form.get("step") or None, clock=clock)
        return Redirect(path="/rate?saved=erased", status_code=303)


class SelfRatingController(Controller):
    """The same for JSON clients: the caller's steps, their own ratings, and erasure."""

    path = "/api/self-ratings"
    tags = ["self-ratings"]
    cache_control = CacheControlHeader(no_store=True)

    @get("/", summary="The caller's steps to rate and the open round")
    async def overview(self, request: Request, clock: NamedDependency[Clock]) -> RatingOverview:
        """The open round, the next one, and the steps of the caller's department."""
        _, department_id = _me(request)
        now = clock()
        open_round = await current_round(department_id, clock=clock)
        upcoming = None if open_round else await upcoming_round(department_id, clock=clock)
        return RatingOverview(
            open_round=round_out(open_round, now) if open_round else None,
            next_round=round_out(upcoming, now) if upcoming else None,
            steps=msgspec.convert(
                await steps_to_rate(department_id), list[StepToRateOut], from_attributes=True
            ),
        )

    @get("/steps/{step_key:str}", summary="One of the caller's steps with its questions")
    async def step(self, request: Request, step_key: FromPath[str]) -> StepToRateOut:
        """A step of the caller's department; 403 for another department's step."""
        _, department_id = _me(request)
        step = await step_to_rate(department_id, step_key)
        return msgspec.convert(step, StepToRateOut, from_attributes=True)

    @post("/", status_code=201, summary="Rate one of the caller's steps in the open round")
    async def create(
        self, request: Request, clock: NamedDependency[Clock], data: JSONBody[SelfRatingCreate]
    ) -> MySelfRating:
        """Store or change the caller's answers for a step (403 other department, 409 no round)."""
        employee_id, department_id = _me(request)
        rating = await submit(
            employee_id=employee_id,
            department_id=department_id,
            step_key=data.step,
            answers=data.answers,
            comment=data.comment,
            clock=clock,
        )
        return msgspec.convert(rating, MySelfRating, from_attributes=True)

    @get(
        "/mine",
        summary="The caller's own ratings; closed rounds as anonymised, with counts only",
        description=(
            "Ratings of rounds not yet closed, newest first. When a round closes its ratings "
            "are severed from their authors, so closed rounds are listed with the department's "
            "invited and answered counts only: their answers can no longer be shown or changed."
        ),
    )
    async def mine(
        self, request: Request, clock: NamedDependency[Clock], round: RowIdQuery = None
    ) -> MyRatings:
        """The caller's own ratings in rounds not yet closed, and the closed rounds' counts."""
        employee_id, department_id = _me(request)
        ratings = await my_ratings(employee_id, round_id=round, clock=clock)
        closed = await my_closed_rounds(department_id, clock=clock)
        return MyRatings(
            ratings=msgspec.convert(ratings, list[MySelfRating], from_attributes=True),
            closed_rounds=msgspec.convert(
                [c for c in closed if round in (None, c.round_id)],
                list[MyClosedRound],
                from_attributes=True,
            ),
        )

    @delete("/mine", status_code=200, summary="Erase the caller's own ratings")
    async def erase(
        self,
        request: Request,
        clock: NamedDependency[Clock],
        round: RowIdQuery = None,
        step: FromQuery[str | None] = None,
    ) -> Erased:
        """Erase the caller's ratings in rounds not yet closed: all, or of one round or step."""
        employee_id, _ = _me(request)
        return Erased(
            erased=await erase_mine(employee_id, round_id=round, step_key=step, clock=clock)
        )


async def _participation_out(round_id: int, now: datetime) -> RoundParticipation:
    info = await get_round(round_id)
    return RoundParticipation(
        round=info.id,
        name=info.name,
        status=info.status(now),
        departments=msgspec.convert(
            await participation(round_id), list[DepartmentParticipation], from_attributes=True
        ),
    )


async def _rounds_page(
    clock: Clock,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Template:
    now = clock()
    zone = await organisation_time_zone()
    local_now = now.astimezone(zone)
    start = (local_now + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    rounds = await list_rounds()
    return Template(
        "surveys/rounds.html",
        context={
            "rounds": [(round_out(r, now), await _participation_out(r.id, now)) for r in rounds],
            "departments": await Department.select(Department.key, Department.name)
            .where(Department.active == True)
            .order_by(Department.name),
            "errors": errors or {},
            "values": values
            or {
                "name": "",
                "starts_at": to_local_input(start, zone),
                "ends_at": to_local_input(start + timedelta(days=14), zone),
                "departments": [],
            },
            "notice": notice,
            "zone": zone.key,
            "local": lambda moment: local_text(moment, zone),
        },
        status_code=status_code,
        # The form's answers are pages whatever the handler returns otherwise (a Redirect).
        media_type=MediaType.HTML,
    )


class RoundAdminController(Controller):
    """Admins open rounds on a page and invite late joiners."""

    tags = ["rounds"]

    @post(
        "/api/rounds/{round_id:int}/invitations",
        status_code=200,
        summary="Invite employees who joined since the round was created",
    )
    async def invite(
        self,
        request: Request,
        base_url: NamedDependency[str],
        clock: NamedDependency[Clock],
        round_id: RowId,
    ) -> dict[str, int]:
        """Invite the round's employees not invited yet; returns how many were invited."""
        count = await invite_employees(round_id, base_url=base_url, clock=clock)
        if count:  # counts only: who was invited is not the log's business
            await record(
                actor_of(request.user), "round", "invite", str(round_id), after={"invited": count}
            )
        return {"invited": count}

    @get("/rounds", include_in_schema=False)
    async def page(
        self, clock: NamedDependency[Clock], created: FromQuery[str | None] = None
    ) -> Template:
        """The rounds, their participation counts, and a form to open a new one."""
        notice = "The round was created and its employees invited." if created else None
        return await _rounds_page(clock, notice=notice)

    @post("/rounds", include_in_schema=False, status_code=303)
    async def create_from_form(
        self, request: Request, base_url: NamedDependency[str], clock: NamedDependency[Clock]
    ) -> Template | Redirect:
        """Create a round from the page's form."""
        values = round_form_values(await request.form())
        try:
            info = await create_round_from_form(values, base_url=base_url, clock=clock)
        except (Invalid, Conflict) as exc:
            return await _rounds_page(
                clock,
                errors=exc.errors or {exc.field or "": exc.message},
                values=values,
                status_code=exc.status_code,
            )
        await record(
            actor_of(request.user), "round", "create", info.name, after=round_out(info, clock())
        )
        return Redirect(path="/rounds?created=1", status_code=303)


class RoundController(Controller):
    """Rounds and their participation counts for executives and admins; admins open rounds."""

    path = "/api/rounds"
    tags = ["rounds"]

    @post(
        "/",
        status_code=201,
        guards=[admins_only],
        summary="Open a rating round and invite its employees (admins)",
    )
    async def create(
        self,
        base_url: NamedDependency[str],
        clock: NamedDependency[Clock],
        request: Request,
        data: JSONBody[RoundCreate],
    ) -> RatingRound:
        """Create a round; its employees get an email with a link to /rate."""
        info = await create_round(
            name=data.name,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            departments=data.departments,
            base_url=base_url,
            clock=clock,
        )
        await record(
            actor_of(request.user), "round", "create", info.name, after=round_out(info, clock())
        )
        return round_out(info, clock())

    @get("/", summary="Every rating round, latest first")
    async def index(self, clock: NamedDependency[Clock]) -> list[RatingRound]:
        """Every round with its status."""
        now = clock()
        return [round_out(r, now) for r in await list_rounds()]

    @get("/{round_id:int}", summary="One rating round")
    async def show(self, clock: NamedDependency[Clock], round_id: RowId) -> RatingRound:
        """One round with its status."""
        return round_out(await get_round(round_id), clock())

    @patch(
        "/{round_id:int}",
        guards=[admins_only],
        summary="Rename a round or move its end later (admins)",
        description=(
            "ends_at may only move later (an earlier one is 422); a closed round is 409. "
            "To end a round now, POST /api/rounds/{id}/close."
        ),
    )
    async def update(
        self,
        request: Request,
        clock: NamedDependency[Clock],
        round_id: RowId,
        data: JSONBody[RoundUpdate],
    ) -> RatingRound:
        """Change a round that has not closed."""
        before = round_out(await get_round(round_id), clock())
        info = await extend_round(round_id, ends_at=data.ends_at, name=data.name, clock=clock)
        await record(
            actor_of(request.user),
            "round",
            "update",
            info.name,
            before=before,
            after=round_out(info, clock()),
        )
        return round_out(info, clock())

    @post(
        "/{round_id:int}/close",
        status_code=200,
        guards=[admins_only],
        summary="Close an open round now and anonymise its ratings (admins)",
    )
    async def close(
        self, request: Request, clock: NamedDependency[Clock], round_id: RowId
    ) -> RatingRound:
        """Set the round's end to now; its ratings are severed from their authors at once."""
        before = round_out(await get_round(round_id), clock())
        after = round_out(await close_round(round_id, clock=clock), clock())
        await record(
            actor_of(request.user), "round", "close", after.name, before=before, after=after
        )
        return after

    @get("/{round_id:int}/participation", summary="Invited and answered counts per department")
    async def participation(
        self, clock: NamedDependency[Clock], round_id: RowId
    ) -> RoundParticipation:
        """Counts only, never names."""
        return await _participation_out(round_id, clock())


RATING_CONTROLLERS: list = [RatingPageController, SelfRatingController]
ROUND_ADMIN_CONTROLLERS: list = [RoundAdminController]
ROUND_CONTROLLERS: list = [RoundController]
