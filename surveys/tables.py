"""Piccolo tables of the domain: the organisation, its journeys, surveys, people and answers."""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    BigInt,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table

# --- organisation and journeys -------------------------------------------------------------


class Department(Table):
    """A part of the company that owns steps of the customer journey."""

    key = Varchar(length=100, unique=True)
    name = Varchar(length=200)
    active = Boolean(default=True)
    follow_up_email = Varchar(length=320, null=True, default=None)


class Journey(Table):
    """A path a customer takes through the company, made of ordered steps."""

    key = Varchar(length=100, unique=True)
    name = Varchar(length=200)
    position = Integer(default=0)
    active = Boolean(default=True)


class Step(Table):
    """One step of a journey, owned by one department."""

    key = Varchar(length=100, unique=True)
    name = Varchar(length=200)
    journey = ForeignKey(references=Journey, on_delete=OnDelete.restrict)
    position = Integer(default=0)
    department = ForeignKey(references=Department, on_delete=OnDelete.restrict, index=True)
    moment_of_truth = Boolean(default=False)
    active = Boolean(default=True)


class Survey(Table):
    """A versioned set of questions about one step; answers keep the version they were given on."""

    step = ForeignKey(references=Step, on_delete=OnDelete.restrict, index=True)
    name = Varchar(length=200)
    version = Integer(default=1)
    active = Boolean(default=True)
    fingerprint = Varchar(length=64, default="")
    created_at = Timestamptz()
    # The invitation email's own sentences per locale ({"de": {"subject": "…"}}); not part of
    # the fingerprint: they change what the email says, not what is asked.
    email = JSON(default="{}")
    # unique together: step, version (an index made by the migration)


class Question(Table):
    """A question of a survey; rating kinds carry a mirrored employee wording on the same scale."""

    survey = ForeignKey(references=Survey, on_delete=OnDelete.cascade, index=True)
    key = Varchar(length=100)
    kind = Varchar(length=20)
    customer = JSON()  # {"en": "...", "de": "..."}: the default locale first
    employee = Text(null=True, default=None)
    low_label = Varchar(length=200, null=True, default=None)
    high_label = Varchar(length=200, null=True, default=None)
    options = JSON(default="[]")
    required = Boolean(default=True)
    position = Integer(default=0)
    higher_is_better = Boolean(default=True)
    alert_threshold = Integer(null=True, default=None)
    # unique together: survey, key (an index made by the migration)


class Organisation(Table):
    """The organisation the customers deal with: its name, logo, time zone and languages.

    One row, written by the journey file's `[organisation]` table; `wording` holds interface
    strings per locale ({"de": {"Send": "Absenden"}}), `step_names` the steps' names per locale
    ({"checkout": {"de": "Sie bestellen"}}). `version` counts the changes.
    """

    name = Varchar(length=200, default="")
    logo = Varchar(length=2000, null=True, default=None)
    accent_colour = Varchar(length=7, null=True, default=None)  # "#rrggbb", AA on white
    time_zone = Varchar(length=64, default="UTC")
    default_locale = Varchar(length=35, default="en")
    wording = JSON(default="{}")
    step_names = JSON(default="{}")
    version = Integer(default=0)
    updated_at = Timestamptz(null=True, default=None)


# --- people ----------------------------------------------------------------------------------


class User(Table, tablename="app_user"):
    """A person who logs in: admin, executive or employee (roles are comma-separated)."""

    email = Varchar(length=320, unique=True)
    name = Varchar(length=200)
    password_hash = Varchar(length=200, null=True, default=None)
    roles = Varchar(length=100)
    department = ForeignKey(references=Department, on_delete=OnDelete.restrict, null=True)
    active = Boolean(default=True)
    created_at = Timestamptz()
    # Sessions started before this moment are over: a password change or reset ends them all.
    password_changed_at = Timestamptz(null=True, default=None)


class PasswordResetRequest(Table):
    """A "forgot password" form sent: the delivery worker issues the link, if the account exists.

    The form does the same work whatever the address (one row), so its timing tells nothing;
    the address is kept only until the worker read it, its hash for the per-address limit.
    """

    email = Varchar(length=320, default="")
    email_hash = Varchar(length=64, index=True)
    requested_at = Timestamptz()
    processed_at = Timestamptz(null=True, default=None, index=True)


class PasswordToken(Table):
    """A single-use link to set or reset a password; only its hash is stored."""

    user = ForeignKey(references=User, on_delete=OnDelete.cascade, index=True)
    purpose = Varchar(length=10)  # "set" or "reset"
    token_hash = Varchar(length=64, unique=True)
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()


class Customer(Table):
    """A customer known to a source system: only what delivery needs."""

    external_id = Varchar(length=200, unique=True)
    email = Varchar(length=320, null=True, default=None)
    name = Varchar(length=200, null=True, default=None)
    locale = Varchar(length=35, null=True, default=None)
    time_zone = Varchar(length=64, null=True, default=None)
    opted_out_at = Timestamptz(null=True, default=None)
    last_invited_at = Timestamptz(null=True, default=None)
    erased_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()


class Suppression(Table):
    """An address that bounced or complained: never emailed again."""

    email = Varchar(length=320, unique=True)
    reason = Varchar(length=50)
    created_at = Timestamptz()


# --- invitations and customer answers --------------------------------------------------------


class Invitation(Table):
    """A survey invitation for one customer, and the outbox row that delivers it."""

    uid = Varchar(length=36, unique=True)
    token_hash = Varchar(length=64, unique=True)
    event_id = BigInt(null=True, default=None)  # listening's event row; no query looks it up
    trigger_key = Varchar(length=200, null=True, default=None)
    customer = ForeignKey(references=Customer, on_delete=OnDelete.restrict, index=True)
    survey = ForeignKey(references=Survey, on_delete=OnDelete.restrict)
    step = ForeignKey(references=Step, on_delete=OnDelete.restrict)
    channel = Varchar(length=10)  # email | link | webhook
    status = Varchar(length=12, index=True)  # scheduled sent opened answered expired failed
    locale = Varchar(length=35, null=True, default=None)
    attributes = JSON(default="{}")
    created_at = Timestamptz()
    send_at = Timestamptz()
    expires_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)
    opened_at = Timestamptz(null=True, default=None)
    answered_at = Timestamptz(null=True, default=None)
    remind_at = Timestamptz(null=True, default=None)
    reminded_at = Timestamptz(null=True, default=None)
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(null=True, default=None)
    claimed_until = Timestamptz(null=True, default=None)
    last_error = Text(null=True, default=None)
    webhook_url = Varchar(length=2000, null=True, default=None)


class Response(Table):
    """One customer's answers to one survey: invited (through a token) or unsolicited."""

    survey = ForeignKey(references=Survey, on_delete=OnDelete.restrict)
    step = ForeignKey(references=Step, on_delete=OnDelete.restrict, index=True)
    invitation = ForeignKey(
        references=Invitation, on_delete=OnDelete.restrict, null=True, unique=True
    )
    customer = ForeignKey(references=Customer, on_delete=OnDelete.set_null, null=True, index=True)
    source = Varchar(length=12)  # "invited" or "unsolicited"
    locale = Varchar(length=35, null=True, default=None)
    attributes = JSON(default="{}")
    submitted_at = Timestamptz(index=True)


class ResponseSegment(Table):
    """One segment attribute of a response (channel=phone), indexed for dashboard filters."""

    response = ForeignKey(references=Response, on_delete=OnDelete.cascade, index=True)
    name = Varchar(length=100)
    value = Varchar(length=200)
    # unique together: response, name (an index made by the migration)


class Answer(Table):
    """One answer of a response: a score, a chosen option or a text."""

    response = ForeignKey(references=Response, on_delete=OnDelete.cascade, index=True)
    question = ForeignKey(references=Question, on_delete=OnDelete.restrict, index=True)
    score = Integer(null=True, default=None)
    choice = Varchar(length=200, null=True, default=None)
    text = Text(null=True, default=None)


class FollowUp(Table):
    """A closed-loop task opened by a low score, for the step's owning department."""

    response = ForeignKey(references=Response, on_delete=OnDelete.cascade, index=True)
    step = ForeignKey(references=Step, on_delete=OnDelete.restrict)
    department = ForeignKey(references=Department, on_delete=OnDelete.restrict, index=True)
    question = ForeignKey(references=Question, on_delete=OnDelete.restrict)
    score = Integer()
    status = Varchar(length=12, default="open")  # open | in_progress | closed
    note = Text(null=True, default=None)
    closed_by = ForeignKey(references=User, on_delete=OnDelete.set_null, null=True)
    assignee = ForeignKey(references=User, on_delete=OnDelete.set_null, null=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    closed_at = Timestamptz(null=True, default=None)


class Message(Table):
    """An outbox row for a message that is not a survey invitation (rounds, follow-ups, links).

    Services write it in the same transaction as the change it reports; listening's worker
    delivers it, so nothing is announced that was not stored, nor stored and never announced.
    """

    uid = Varchar(length=36, unique=True)  # the stable Message-ID / delivery id
    kind = Varchar(length=30)
    channel = Varchar(length=10)  # email | webhook
    recipient = Varchar(length=2000)
    subject = Varchar(length=300, default="")
    body_text = Text(default="")
    body_html = Text(default="")
    payload = JSON(default="{}")
    status = Varchar(length=10, index=True)  # queued | sent | failed
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(index=True)
    claimed_until = Timestamptz(null=True, default=None)
    last_error = Text(null=True, default=None)
    created_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)


# --- employee self-ratings -------------------------------------------------------------------


class Round(Table, tablename="rating_round"):
    """A period in which employees of some departments rate their own steps."""

    name = Varchar(length=200)
    starts_at = Timestamptz()
    ends_at = Timestamptz()
    created_at = Timestamptz()
    # Set once the round's ratings were severed from their employees (`surveys.anonymisation`);
    # employee figures are read only from rounds where it is set.
    anonymised_at = Timestamptz(null=True, default=None)


class RoundDepartment(Table):
    """A department taking part in a rating round."""

    round = ForeignKey(references=Round, on_delete=OnDelete.cascade, index=True)
    department = ForeignKey(references=Department, on_delete=OnDelete.restrict)
    # unique together: round, department (an index made by the migration)


class RoundInvitee(Table):
    """An employee invited to a round; kept for participation counts only."""

    round = ForeignKey(references=Round, on_delete=OnDelete.cascade, index=True)
    user = ForeignKey(references=User, on_delete=OnDelete.cascade)
    department = ForeignKey(references=Department, on_delete=OnDelete.restrict)
    invited_at = Timestamptz()
    # unique together: round, user (an index made by the migration)


class SelfRating(Table):
    """An employee's rating of one step in one round.

    While the round is open, `employee` links the rating to its author (so they can see, change
    and erase it) and `rater` is NULL. When the round ends, `surveys.anonymisation` severs the
    link: `employee` becomes NULL and `rater` a random pseudonym drawn per rater and round, so one
    rater's ratings of that round still group together and nothing leads back to a person.
    """

    round = ForeignKey(references=Round, on_delete=OnDelete.cascade, index=True)
    step = ForeignKey(references=Step, on_delete=OnDelete.restrict)
    employee = ForeignKey(references=User, on_delete=OnDelete.cascade, null=True)
    rater = Varchar(length=32, null=True, default=None)
    department = ForeignKey(references=Department, on_delete=OnDelete.restrict)
    comment = Text(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    # unique together: (round, step, employee) and (round, step, rater): indexes made by the
    # migrations (NULLs never collide, so each holds for the rows where its column is set)


class SelfRatingScore(Table):
    """One score of a self-rating, on the mirrored question."""

    rating = ForeignKey(references=SelfRating, on_delete=OnDelete.cascade, index=True)
    question = ForeignKey(references=Question, on_delete=OnDelete.restrict)
    score = Integer()
    # unique together: rating, question (an index made by the migration)


# --- tallies ---------------------------------------------------------------------------------


class Tally(Table):
    """Counts per step, question, source, round, day and score level: what dashboards read.

    `round_id` is 0 for customer sources, so the unique key has no NULL in it.
    """

    step = ForeignKey(references=Step, on_delete=OnDelete.restrict, index=True)
    question = ForeignKey(references=Question, on_delete=OnDelete.restrict)
    source = Varchar(length=12)  # customer | unsolicited | employee
    round_id = Integer(default=0)
    day = Date()
    level = Integer()
    count = BigInt(default=0)
    # unique together: question, source, round_id, day, level (an index made by the migration)


# --- the audit log ---------------------------------------------------------------------------


class AuditEntry(Table):
    """One configuration change: who, when, what, and the object before and after it.

    Never a response or an employee rating. `person` is a keyed hash of the customer or the
    address an entry concerns, so erasing that person's data can blank the entry's details.
    """

    at = Timestamptz(index=True)
    actor = Varchar(length=320, index=True)
    kind = Varchar(length=30, index=True)  # department | journey | step | survey | trigger | ...
    action = Varchar(length=30)  # create | update | deactivate | erase | load | ...
    subject = Varchar(length=300)
    person = Varchar(length=80, null=True, default=None, index=True)
    before_state = JSON(null=True, default=None)
    after_state = JSON(null=True, default=None)


# Composite unique keys, created as unique indexes by the migrations (SQLite cannot add table
# constraints after the fact); the schema test checks each one exists.
UNIQUE_INDEXES: dict[str, tuple[str, ...]] = {
    "survey_unique_step_version": ("step", "version"),
    "question_unique_survey_key": ("survey", "key"),
    "response_segment_unique_response_name": ("response", "name"),
    "round_department_unique_round_department": ("round", "department"),
    "round_invitee_unique_round_user": ("round", "user"),
    "self_rating_unique_round_step_employee": ("round", "step", "employee"),
    "self_rating_unique_round_step_rater": ("round", "step", "rater"),
    "self_rating_score_unique_rating_question": ("rating", "question"),
    "tally_unique_cell": ("question", "source", "round_id", "day", "level"),
}
