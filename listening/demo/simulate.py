"""Six months of a believable organisation, simulated through the real services.

Events go through the ingestion service, customers answer through the response service (some
with the one-click first answer), others opt out or leave unsolicited feedback, follow-ups get
worked, and employees rate their steps in a rating round every quarter. The clock is
simulated, so nothing is stale when it is ingested. The built-in story, per department:

- Logistics: a large gap — employees rate their steps about 88, customers about 50;
- Customer Support: no gap;
- Online Shop: a gap that closes week by week over the last three months (a new shop
  launched then) as customers grow happier;
- Sales: a moderate gap, hidden by complementary suppression (the smallest team shown);
- Marketing: too few employees to show (suppressed by the anonymity threshold).

Scores are drawn so that the story's scores are their true means (see `_level_chances`).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import numpy as np
from scipy import special

from listening.ingest.drivers import ingest_events
from listening.schemas import CustomerIn, EventIn
from listening.tables import Trigger
from surveys.accounts import create_user, hash_password
from surveys.errors import DomainError
from surveys.feedback_posts import post_feedback
from surveys.follow_ups import Viewer, update_follow_up
from surveys.optout import opt_out
from surveys.responses import open_invitation, submit_response
from surveys.rounds import create_round
from surveys.scales import scale_of
from surveys.self_ratings import submit as submit_self_rating
from surveys.tables import Department, FollowUp, Question, User
from surveys.tokens import invitation_token

Progress = Callable[[str, int, int], None]

# department -> customer score (0–100) at the start and at the end, employee score, employees.
# Teams that need a verdict have at least 12 people (about 11 raters a round, as one in ten
# skips a step; Customer Support 16, so a few raters cannot turn its no gap into a gap); Sales
# is the smallest team above the threshold, so complementary suppression hides it with
# Marketing, whose three people are below it.
STORY: dict[str, tuple[float, float, float, int]] = {
    "logistics": (50, 50, 88, 12),
    "support": (80, 80, 80, 16),
    "shop": (45, 85, 86, 12),
    "sales": (64, 68, 78, 7),
    "marketing": (62, 62, 82, 3),
}
FIRST_NAMES = ["Alex", "Sam", "Robin", "Kim", "Jo", "Noa", "Mika", "Lou", "Ari", "Eden"]
LAST_NAMES = ["Berg", "Costa", "Diaz", "Eriksen", "Fischer", "Garcia", "Hansen", "Ito"]
CHANNELS = ["phone", "chat", "email", "web"]
REGIONS = ["north", "south", "east", "west"]
PRAISE = ["Quick and friendly, thank you.", "Exactly what I needed.", "Very smooth."]
COMPLAINTS = [
    "It took far too long and nobody told me why.",
    "I had to explain everything twice.",
    "The parcel arrived damaged and the box was open.",
    "Nobody called back as promised.",
]
EMPLOYEE_COMMENTS = ["We are short-staffed on Mondays.", "The new tool helps a lot."]
RESPONSE_RATE = 0.35
ONE_CLICK_SHARE = 0.4
OPT_OUT_RATE = 0.01
DAILY_INVITATIONS_PER_TRIGGER = {"small": 2.5, "large": 8.0}
# Customer scores move from their start to their end over the last CHANGE_DAYS (13 weeks, the
# dashboards' default view) and hold at their start before.
CHANGE_DAYS = 91
# Searches, orders and deliveries are the shop's daily business: these departments' triggers
# fire this many times as often as the others.
BUSY = {"shop": 2, "logistics": 2}
# A rating round every third month, from the first simulated month on. The dashboards test a
# trend only between weeks that share a round (a new round is a break, never a trend): monthly
# rounds would cut a 90-day view into stretches of two to five weeks, too short for the Online
# Shop's closing gap to read as clear in every seed; quarterly ones leave one or two stretches
# of six weeks or more (one of ten or more in the default six months).
ROUND_EVERY_MONTHS = 3


class SimulatedClock:
    """A clock the simulation moves forward; services read it like the real one."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@dataclass
class DemoStats:
    """What the simulation did, for the closing summary."""

    events: int = 0
    invitations: int = 0
    responses: int = 0
    one_click: int = 0
    opt_outs: int = 0
    unsolicited: int = 0
    self_ratings: int = 0
    rounds: int = 0
    follow_ups_closed: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


@cache
def _level_chances(kind: str, target: float, spread: float) -> tuple[np.ndarray, np.ndarray]:
    """The levels of a scale and their chances: a rounded normal, clipped to the scale, whose
    mean on 0–100 is exactly `target` (clipping pulls a plain normal's mean to the middle, which
    turned "almost no gap" into a clear one)."""
    low, high = scale_of(kind)
    levels = np.arange(low, high + 1)
    sd = (high - low) * spread
    cuts = np.concatenate(([-np.inf], levels[:-1] + 0.5, [np.inf]))

    def chances(centre: float) -> np.ndarray:
        return np.diff(special.ndtr((cuts - centre) / sd))

    points = 100 * (levels - low) / (high - low)
    below, above = low - 4.0 * (high - low), high + 4.0 * (high - low)
    for _ in range(60):  # bisection: the mean grows with the centre
        middle = (below + above) / 2
        if float(chances(middle) @ points) < target:
            below = middle
        else:
            above = middle
    return levels, chances((below + above) / 2)


def _score(rng: np.random.Generator, kind: str, target: float, spread: float) -> int:
    """A score on the kind's scale; scores drawn so have a mean of `target` on 0–100."""
    levels, chances = _level_chances(kind, round(target, 1), spread)
    return int(rng.choice(levels, p=chances))


def _customer_target(department: str, days_left: float) -> float:
    """The department's true customer score (0–100) `days_left` days before the end."""
    start, end, _, _ = STORY[department]
    return start + (end - start) * min(max(1 - days_left / CHANGE_DAYS, 0.0), 1.0)


async def _survey_plan() -> dict[str, dict[str, Any]]:
    """Per step: department key and the active survey's questions, in order."""
    rows = (
        await Question.select(
            Question.key,
            Question.kind,
            Question.options,
            Question.required,
            Question.survey.step.key.as_alias("step"),
            Question.survey.step.department.key.as_alias("department"),
        )
        .where(Question.survey.active == True)
        .order_by(Question.position)
        .output(load_json=True)
    )
    plan: dict[str, dict[str, Any]] = {}
    for row in rows:
        step = plan.setdefault(row["step"], {"department": row["department"], "questions": []})
        step["questions"].append(row)
    return plan


def _answers(rng: np.random.Generator, questions: list[dict], target: float) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    rating = None
    for q in questions:
        if q["kind"] == "text":
            if rng.random() < 0.3:
                bank = PRAISE if (rating is None or rating >= 60) else COMPLAINTS
                answers[q["key"]] = bank[int(rng.integers(len(bank)))]
        elif q["kind"] == "choice":
            if rng.random() < 0.6:
                options = q["options"]
                answers[q["key"]] = (
                    options[0] if rng.random() < 0.7 else options[int(rng.integers(len(options)))]
                )
        else:
            score = _score(rng, q["kind"], target, 0.22)
            low, high = scale_of(q["kind"])
            rating = 100 * (score - low) / (high - low)
            answers[q["key"]] = score
    return answers


async def _employees(
    rng: np.random.Generator, password: str, clock: SimulatedClock
) -> dict[str, list[int]]:
    """The demo's employees, all with the demo password (hashed once: argon2 is slow on purpose)."""
    staff: dict[str, list[int]] = {}
    password_hash = hash_password(password)
    for department, (_, _, _, count) in STORY.items():
        ids = []
        for n in range(count):
            support_lead = department == "support" and n == 0
            email = "support@demo.example" if support_lead else f"{department}{n + 1}@demo.example"
            existing = await User.select(User.id).where(User.email == email).first()
            if existing is None:
                first_name = FIRST_NAMES[int(rng.integers(len(FIRST_NAMES)))]
                last_name = LAST_NAMES[int(rng.integers(len(LAST_NAMES)))]
                account = await create_user(
                    email=email,
                    name=f"{first_name} {last_name}",
                    roles=["employee"],
                    department_key=department,
                    clock=clock,
                )
                await User.update({User.password_hash: password_hash}).where(User.id == account.id)
                existing = {"id": account.id}
            ids.append(existing["id"])
        staff[department] = ids
    return staff


async def _rate_round(
    rng: np.random.Generator,
    clock: SimulatedClock,
    month_start: datetime,
    staff: dict[str, list[int]],
    plan: dict[str, dict[str, Any]],
    base_url: str,
    stats: DemoStats,
) -> None:
    starts, ends = month_start + timedelta(hours=8), month_start + timedelta(days=14)
    clock.now = starts - timedelta(days=1)
    await create_round(
        name=f"Self-rating {calendar.month_name[month_start.month]} {month_start.year}",
        starts_at=starts.isoformat(),
        ends_at=ends.isoformat(),
        departments=list(STORY),
        base_url=base_url,
        clock=clock,
    )
    stats.rounds += 1
    department_ids = {
        r["key"]: r["id"] for r in await Department.select(Department.key, Department.id)
    }
    for department, employee_ids in staff.items():
        target = STORY[department][2]
        for employee_id in employee_ids:
            for step_key, step in plan.items():
                if step["department"] != department or rng.random() < 0.1:
                    continue
                clock.now = starts + timedelta(days=float(rng.uniform(0.5, 12)))
                answers = {
                    q["key"]: _score(rng, q["kind"], target, 0.12)
                    for q in step["questions"]
                    if q["kind"] not in ("text", "choice")
                }
                comment = EMPLOYEE_COMMENTS[int(rng.integers(2))] if rng.random() < 0.2 else None
                await submit_self_rating(
                    employee_id=employee_id,
                    department_id=department_ids[department],
                    step_key=step_key,
                    answers=answers,
                    comment=comment,
                    clock=clock,
                )
                stats.self_ratings += 1


async def simulate(
    *,
    seed: int,
    size: str,
    secret_key: str,
    base_url: str,
    password: str,
    admin_id: int,
    progress: Progress | None = None,
    now: datetime | None = None,
    months: int = 6,
) -> DemoStats:
    """Run `months` months of the story (six by default), ending now."""
    rng = np.random.default_rng(seed)
    end = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    first_month = (end - timedelta(days=30.5 * months - 5)).replace(day=1, hour=0)
    clock = SimulatedClock(first_month - timedelta(days=1))
    stats = DemoStats()
    staff = await _employees(rng, password, clock)
    plan = await _survey_plan()
    triggers = await Trigger.select(
        Trigger.event_type,
        Trigger.step.key.as_alias("step"),
        Trigger.sample_percent,
        Trigger.delay_seconds,
    ).where(Trigger.active == True)
    daily = DAILY_INVITATIONS_PER_TRIGGER[size]
    days = (end - first_month).days
    month_starts = [m for m in range(days) if (first_month + timedelta(days=m)).day == 1]
    round_days = set(month_starts[::ROUND_EVERY_MONTHS])
    customer_pool = 60_000 if size == "small" else 400_000
    admin = Viewer(roles=("admin",), department_id=None, user_id=admin_id)
    for day in range(days):
        day_start = first_month + timedelta(days=day)
        if day in round_days:
            await _rate_round(rng, clock, day_start, staff, plan, base_url, stats)
        events: list[EventIn] = []
        for trigger in triggers:
            busy = BUSY.get(plan[trigger["step"]]["department"], 1)
            volume = rng.poisson(busy * daily * 100 / max(trigger["sample_percent"], 1.0))
            for _ in range(volume):
                customer = int(rng.integers(customer_pool))
                occurred = day_start + timedelta(seconds=float(rng.uniform(7, 20) * 3600))
                events.append(
                    EventIn(
                        id=f"demo-{seed}-{trigger['event_type']}-{day}-{len(events)}",
                        type=trigger["event_type"],
                        occurred_at=occurred,
                        customer=CustomerIn(
                            id=f"C{customer:06d}",
                            email=f"customer{customer}@example.com",
                            name=f"Customer {customer}",
                            locale="de" if customer % 5 == 0 else "en",
                        ),
                        attributes={
                            "channel": CHANNELS[customer % 4],
                            "region": REGIONS[customer % 7 % 4],
                            "tier": "internal"
                            if customer % 97 == 0
                            else ("gold" if customer % 9 == 0 else "standard"),
                        },
                    )
                )
        clock.now = day_start + timedelta(hours=21)
        outcomes = await ingest_events(events, secret_key=secret_key, clock=clock) if events else []
        stats.events += len(events)
        await _answer(rng, clock, outcomes, plan, days - day, secret_key, stats)
        await _unsolicited(rng, clock, day_start, plan, days - day, stats)
        if day % 7 == 6:
            await _work_follow_ups(rng, clock, admin, stats)
        if progress:
            progress("simulating six months", day + 1, days)
    return stats


async def _answer(rng, clock, outcomes, plan, days_left, secret_key, stats) -> None:
    if isinstance(outcomes, str):
        return
    ingested = clock.now
    for outcome in outcomes:
        for item in outcome.invitations:
            if item.get("status") != "scheduled" or not item.get("uid"):
                continue
            stats.invitations += 1
            step_key = item["survey"]  # the outcome names the survey by its step's key
            step = plan.get(step_key)
            if step is None:
                stats.skipped["unknown step"] = stats.skipped.get("unknown step", 0) + 1
                continue
            token = invitation_token(secret_key, item["uid"])
            draw = rng.random()
            sent = item.get("send_at")
            sent = datetime.fromisoformat(sent) if isinstance(sent, str) else sent or ingested
            # Each customer answers on their own time, some hours after the invitation went out.
            clock.now = sent + timedelta(hours=float(rng.uniform(0.5, 30)))
            try:
                if draw < OPT_OUT_RATE:
                    await opt_out(token, secret_key=secret_key, clock=clock)
                    stats.opt_outs += 1
                    continue
                if draw > RESPONSE_RATE + OPT_OUT_RATE:
                    continue
                answers = _answers(
                    rng, step["questions"], _customer_target(step["department"], days_left)
                )
                if rng.random() < ONE_CLICK_SHARE:
                    # The email's scale links open the page with the first score chosen.
                    await open_invitation(token, clock=clock)
                    stats.one_click += 1
                await submit_response(token, answers, clock=clock)
                stats.responses += 1
            except DomainError as exc:
                reason = type(exc).__name__
                stats.skipped[reason] = stats.skipped.get(reason, 0) + 1


async def _unsolicited(rng, clock, day_start, plan, days_left, stats) -> None:
    for step_key in ("ticket-resolved", "order-delivered", "checkout"):
        step = plan.get(step_key)
        if step is None or rng.random() > 0.25:
            continue
        clock.now = day_start + timedelta(hours=float(rng.uniform(8, 22)))
        # Unprompted feedback skews negative: people write when something went wrong.
        target = _customer_target(step["department"], days_left) - 12
        answers = _answers(rng, step["questions"], target)
        try:
            await post_feedback(step_key, answers, clock=clock)
            stats.unsolicited += 1
        except DomainError as exc:
            stats.skipped[type(exc).__name__] = stats.skipped.get(type(exc).__name__, 0) + 1


async def _work_follow_ups(rng, clock, admin, stats) -> None:
    old = await FollowUp.select(FollowUp.id).where(
        (FollowUp.status != "closed") & (FollowUp.created_at < clock.now - timedelta(days=5))
    )
    for row in old:
        if rng.random() < 0.7:
            await update_follow_up(
                admin,
                row["id"],
                status="closed",
                note="Called the customer, apologised and fixed the cause.",
                clock=clock,
            )
            stats.follow_ups_closed += 1
