"""Rating rounds: when employees of some departments rate their own steps, who was invited,
and how many answered (counts only, never names)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from piccolo.engine.postgres import PostgresEngine

from surveys.accounts import issue_password_link
from surveys.anonymisation import anonymise_round
from surveys.clock import Clock, system_clock
from surveys.employee_mail import queue_round_invitation
from surveys.errors import Conflict, Invalid, NotFound
from surveys.local_time import round_form_times
from surveys.tables import (
    Department,
    Round,
    RoundDepartment,
    RoundInvitee,
    SelfRating,
    Tally,
    User,
)
from surveys.transactions import write_transaction

NAME_MAX = 200
YEARS = (1970, 2100)


@dataclass(frozen=True)
class RoundInfo:
    """A rating round as callers see it."""

    id: int
    name: str
    starts_at: datetime
    ends_at: datetime
    departments: tuple[str, ...]
    created_at: datetime

    def status(self, now: datetime) -> str:
        """'scheduled' before it starts, 'open' while it runs, 'closed' from its end on."""
        if now < self.starts_at:
            return "scheduled"
        if now < self.ends_at:
            return "open"
        return "closed"

    def is_open(self, now: datetime) -> bool:
        """Whether employees may answer now."""
        return self.status(now) == "open"


@dataclass(frozen=True)
class DepartmentParticipation:
    """How many employees of one department were invited to a round and how many answered."""

    department: str
    name: str
    invited: int
    answered: int


def parse_time(value: Any, field: str) -> datetime:
    """An RFC 3339 timestamp with its offset, as an aware UTC datetime; 422 naming the field."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError:
            raise Invalid(
                f"{field} must be an RFC 3339 time such as 2026-12-01T09:00:00Z", field=field
            ) from None
    else:
        raise Invalid(f"{field} is required (RFC 3339 time)", field=field)
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise Invalid(f"{field} needs a time zone offset, e.g. Z or +01:00", field=field)
    if not YEARS[0] <= moment.year <= YEARS[1]:
        # also keeps astimezone() from overflowing at the ends of the calendar
        raise Invalid(f"{field} must be between {YEARS[0]} and {YEARS[1]}", field=field)
    return moment.astimezone(UTC)


async def _department_keys(round_ids: list[int]) -> dict[int, tuple[str, ...]]:
    if not round_ids:
        return {}
    rows = (
        await RoundDepartment.select(
            RoundDepartment.round, RoundDepartment.department.key.as_alias("key")
        )
        .where(RoundDepartment.round.is_in(round_ids))
        .order_by(RoundDepartment.department.key)
    )
    keys: dict[int, list[str]] = {}
    for row in rows:
        keys.setdefault(row["round"], []).append(row["key"])
    return {rid: tuple(k) for rid, k in keys.items()}


def _info(row: dict, departments: tuple[str, ...]) -> RoundInfo:
    return RoundInfo(
        id=row["id"],
        name=row["name"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        departments=departments,
        created_at=row["created_at"],
    )


async def get_round(round_id: int) -> RoundInfo:
    """The round with this id; 404 when there is none."""
    row = await Round.select().where(Round.id == round_id).first()
    if row is None:
        raise NotFound(f"no round {round_id}", field="round")
    return _info(row, (await _department_keys([round_id])).get(round_id, ()))


async def list_rounds() -> list[RoundInfo]:
    """Every round, latest start first."""
    rows = await Round.select().order_by(Round.starts_at, ascending=False)
    keys = await _department_keys([r["id"] for r in rows])
    return [_info(r, keys.get(r["id"], ())) for r in rows]


async def rounds_of_department(department_id: int) -> list[RoundInfo]:
    """The rounds this department takes part in, oldest start first."""
    ids = await RoundDepartment.select(RoundDepartment.round).where(
        RoundDepartment.department == department_id
    )
    round_ids = [r["round"] for r in ids]
    if not round_ids:
        return []
    rows = await Round.select().where(Round.id.is_in(round_ids)).order_by(Round.starts_at)
    keys = await _department_keys(round_ids)
    return [_info(r, keys.get(r["id"], ())) for r in rows]


async def open_round_for(department_id: int, *, clock: Clock = system_clock) -> RoundInfo | None:
    """The round open now for this department, or None."""
    now = clock()
    for info in await rounds_of_department(department_id):
        if info.is_open(now):
            return info
    return None


async def next_round_for(department_id: int, *, clock: Clock = system_clock) -> RoundInfo | None:
    """The next round yet to start for this department, or None."""
    now = clock()
    for info in await rounds_of_department(department_id):
        if info.starts_at > now:
            return info
    return None


async def latest_round_in(start: datetime, end: datetime) -> RoundInfo | None:
    """The round that ended last in [start, end]: employee statistics use one round at a time."""
    row = (
        await Round.select()
        .where((Round.ends_at >= start) & (Round.ends_at <= end))
        .order_by(Round.ends_at, ascending=False)
        .first()
    )
    if row is None:
        return None
    return _info(row, (await _department_keys([row["id"]])).get(row["id"], ()))


async def rounds_in(start: datetime, end: datetime) -> list[RoundInfo]:
    """Rounds that ended in [start, end], oldest first: each round is a period in trends."""
    rows = (
        await Round.select()
        .where((Round.ends_at >= start) & (Round.ends_at <= end))
        .order_by(Round.ends_at)
    )
    keys = await _department_keys([r["id"] for r in rows])
    return [_info(r, keys.get(r["id"], ())) for r in rows]


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise Invalid("Give the round a name.", field="name")
    if "\x00" in name:
        raise Invalid("the name contains a NUL character", field="name")
    if len(name.strip()) > NAME_MAX:
        raise Invalid(f"Keep the name to {NAME_MAX} characters at most.", field="name")
    return name.strip()


async def _department_ids(keys: Any) -> dict[str, int]:
    if not isinstance(keys, list | tuple) or not keys:
        raise Invalid("Choose at least one department.", field="departments")
    if not all(isinstance(k, str) for k in keys):
        raise Invalid("department keys are strings", field="departments")
    unique = list(dict.fromkeys(keys))
    rows = await Department.select(Department.id, Department.key).where(
        Department.key.is_in(unique) & (Department.active == True)
    )
    found = {r["key"]: r["id"] for r in rows}
    missing = [k for k in unique if k not in found]
    if missing:
        raise Invalid(f"There is no active department {missing[0]!r}.", field="departments")
    return {k: found[k] for k in unique}


async def _check_no_overlap(
    department_ids: dict[str, int],
    starts: datetime,
    ends: datetime,
    *,
    field: str = "departments",
    besides: int | None = None,
):
    # One open round per department at any time, so an answer always knows its round.
    for key, department_id in department_ids.items():
        for other in await rounds_of_department(department_id):
            if other.id != besides and other.starts_at < ends and starts < other.ends_at:
                raise Conflict(
                    f"Department {key!r} already has the round “{other.name}” from "
                    f"{other.starts_at:%d %b %Y} to {other.ends_at:%d %b %Y}; "
                    "one department's rounds must not overlap.",
                    field=field,
                )


async def create_round_from_form(
    values: dict[str, Any], *, base_url: str, clock: Clock = system_clock
) -> RoundInfo:
    """Open a round from a page's form (times in the organisation's zone); Invalid names every
    field at fault at once."""
    times, errors = await round_form_times(values)
    if not str(values.get("name") or "").strip():
        errors["name"] = "Give the round a name, for example “Spring 2027”."
    if errors:
        raise Invalid("Please check the fields marked below.", errors=errors)
    return await create_round(
        name=values["name"],
        starts_at=times["starts_at"],
        ends_at=times["ends_at"],
        departments=values["departments"],
        base_url=base_url,
        clock=clock,
    )


async def create_round(
    *,
    name: Any,
    starts_at: Any,
    ends_at: Any,
    departments: Any,
    base_url: str,
    clock: Clock = system_clock,
) -> RoundInfo:
    """Create a round and invite every active employee of its departments by email."""
    name = _check_name(name)
    starts = parse_time(starts_at, "starts_at")
    ends = parse_time(ends_at, "ends_at")
    if ends <= starts:
        raise Invalid("The round must end after it starts.", field="ends_at")
    if ends <= clock():
        raise Invalid("The end must be in the future.", field="ends_at")
    async with write_transaction():
        department_ids = await _department_ids(departments)
        await _check_no_overlap(department_ids, starts, ends)
        row = Round(name=name, starts_at=starts, ends_at=ends, created_at=clock())
        await row.save()
        for department_id in department_ids.values():
            await RoundDepartment(round=row.id, department=department_id).save()
        await invite_employees(row.id, base_url=base_url, clock=clock)
    return await get_round(row.id)


async def invite_employees(round_id: int, *, base_url: str, clock: Clock = system_clock) -> int:
    """Invite the round's employees not invited yet (new joiners too); returns how many."""
    info = await get_round(round_id)
    if info.status(clock()) == "closed":
        return 0
    async with write_transaction():
        if Round._meta.db.engine_type == "postgres":
            # Two servers inviting at once would both find an employee not yet invited; the
            # round's row lock makes the second wait, then find them. (On SQLite the write
            # transaction holds the database's write lock already.)
            await Round.select(Round.id).where(Round.id == round_id).lock_rows()
        department_ids = [
            r["department"]
            for r in await RoundDepartment.select(RoundDepartment.department).where(
                RoundDepartment.round == round_id
            )
        ]
        already = {
            r["user"]
            for r in await RoundInvitee.select(RoundInvitee.user).where(
                RoundInvitee.round == round_id
            )
        }
        employees = await User.select().where(
            User.department.is_in(department_ids or [0]) & (User.active == True)
        )
        invited = 0
        for user in employees:
            if "employee" not in user["roles"].split(",") or user["id"] in already:
                continue
            await RoundInvitee(
                round=round_id,
                user=user["id"],
                department=user["department"],
                invited_at=clock(),
            ).save()
            token = None
            if not user["password_hash"]:
                token = await issue_password_link(user["id"], "set", clock=clock)
            await queue_round_invitation(
                recipient=user["email"],
                name=user["name"],
                round_name=info.name,
                starts_at=info.starts_at,
                ends_at=info.ends_at,
                base_url=base_url,
                set_password_token=token,
                clock=clock,
            )
            invited += 1
    return invited


async def participation(round_id: int) -> list[DepartmentParticipation]:
    """Invited and answered counts per department of a round; never who."""
    info = await get_round(round_id)
    departments = await Department.select(Department.id, Department.key, Department.name).where(
        Department.key.is_in(list(info.departments) or [""])
    )
    invited: dict[int, int] = {}
    for row in await RoundInvitee.select(RoundInvitee.department).where(
        RoundInvitee.round == round_id
    ):
        invited[row["department"]] = invited.get(row["department"], 0) + 1
    # A rater is an employee while the round is open, a pseudonym once it is anonymised.
    answered_by: dict[int, set[tuple[str, Any]]] = {}
    for row in await SelfRating.select(
        SelfRating.department, SelfRating.employee, SelfRating.rater
    ).where(SelfRating.round == round_id):
        rater = ("employee", row["employee"]) if row["employee"] else ("rater", row["rater"])
        answered_by.setdefault(row["department"], set()).add(rater)
    return [
        DepartmentParticipation(
            department=d["key"],
            name=d["name"],
            invited=invited.get(d["id"], 0),
            answered=len(answered_by.get(d["id"], ())),
        )
        for d in sorted(departments, key=lambda d: d["key"])
    ]


async def hold_unclosed(round_ids: list[int], now: datetime) -> list[int]:
    """Of these rounds, those not ended at `now`, locked against closing until the transaction ends.

    Call inside a write transaction before changing a rating: on PostgreSQL the rows are taken
    FOR SHARE, so a concurrent close (an UPDATE of the round) waits for the change, or the change
    sees the round closed; SQLite's IMMEDIATE transactions already run one writer at a time.
    """
    if not round_ids:
        return []
    lock = " FOR SHARE" if isinstance(Round._meta.db, PostgresEngine) else ""
    marks = ", ".join("{}" for _ in round_ids)
    rows = await Round.raw(
        f'SELECT "id" FROM "rating_round" WHERE "id" IN ({marks}) AND "ends_at" > {{}}{lock}',  # noqa: S608
        *round_ids,
        now,
    )
    return [row["id"] for row in rows]


async def _redate_tallies(round_id: int, ends: datetime) -> None:
    # A round's employee tallies are dated by its end day (one day per round), so a new end
    # moves them all; no other round shares the round_id, so no unique key collides.
    await Tally.update({Tally.day: ends.astimezone(UTC).date()}).where(
        (Tally.source == "employee") & (Tally.round_id == round_id)
    )


async def extend_round(
    round_id: int, *, ends_at: Any = None, name: Any = None, clock: Clock = system_clock
) -> RoundInfo:
    """Rename a round or move its end later; a closed round or an earlier end is refused.

    An earlier end would shorten the time employees were promised; close the round instead.
    """
    now = clock()
    async with write_transaction():
        info = await get_round(round_id)
        if info.status(now) == "closed":
            field = "ends_at" if ends_at is not None else "name"
            raise Conflict(f"round {info.name!r} has closed and cannot change", field=field)
        changes: dict[Any, Any] = {}
        if name is not None:
            changes[Round.name] = _check_name(name)
        if ends_at is not None:
            ends = parse_time(ends_at, "ends_at")
            if ends <= info.ends_at:
                raise Invalid(
                    "ends_at may only move later; close the round to end it now", field="ends_at"
                )
            departments = await _department_ids(list(info.departments)) if info.departments else {}
            await _check_no_overlap(
                departments, info.starts_at, ends, field="ends_at", besides=round_id
            )
            changes[Round.ends_at] = ends
        if not changes:
            raise Invalid("name a field to change: ends_at or name", field="ends_at")
        await Round.update(changes).where(Round.id == round_id)
        if Round.ends_at in changes:
            await _redate_tallies(round_id, changes[Round.ends_at])
    return await get_round(round_id)


async def close_round(round_id: int, *, clock: Clock = system_clock) -> RoundInfo:
    """End an open round now and anonymise its ratings at once; a round not open is refused."""
    now = clock()
    async with write_transaction():
        info = await get_round(round_id)
        status = info.status(now)
        if status != "open":
            raise Conflict(f"round {info.name!r} is {status}, not open", field="round")
        await Round.update({Round.ends_at: now}).where(Round.id == round_id)
        await _redate_tallies(round_id, now)
    await anonymise_round(round_id, clock=lambda: now)
    return await get_round(round_id)
