"""HTTP for listening posts: events and suppressions (API keys), triggers, invitations (admins)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response.base import ASGIResponse
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED

from listening import outbox, schemas, trigger_admin
from listening.apikeys import hash_key
from listening.auth import admin_guard, bearer_token, suppression_guard
from listening.ingest.answers import UNAUTHORIZED, answer, encode
from listening.ingest.drivers import ingest_batch, ingest_one
from listening.ingest.validate import parse_event, split_batch
from listening.settings import Settings
from surveys import audit
from surveys.audit import actor_of
from surveys.clock import Clock
from surveys.parameters import Offset

# The event endpoints check the key inside the batch transaction (no query of their own) and
# are not session requests, so the principal middleware and the CSRF check stay out of the way.
KEYED = {"exclude_from_auth": True, "exclude_from_csrf": True}
JSON = "application/json"


def _key_hash(request: Request) -> str:
    token = bearer_token(request)
    if token is None:
        raise NotAuthorizedException("send an API key as 'Authorization: Bearer <key>'")
    return hash_key(token)


def _unauthorized() -> NotAuthorizedException:
    return NotAuthorizedException("unknown or revoked API key")


class EventController(Controller):
    """Touchpoint events from other systems."""

    path = "/api/events"
    tags = ["events"]
    opt = KEYED

    @post(
        "/",
        summary="Send one touchpoint event",
        description=(
            "Body: an event {id, type, occurred_at, customer {id, email, name, locale, time_zone},"
            " attributes}. 202 with the outcome of every matching trigger; 200 with"
            ' "duplicate": true and the original outcome when the id was seen before.'
        ),
        status_code=HTTP_202_ACCEPTED,
        # The handlers encode their answers themselves; these say what the answers hold.
        responses={
            202: ResponseSpec(data_container=schemas.EventAccepted, description="Stored"),
            200: ResponseSpec(data_container=schemas.EventAccepted, description="Seen before"),
        },
    )
    async def post_event(self, request: Request) -> ASGIResponse:
        """Ingest one event."""
        # Settings and clock come from the app's state: resolving dependencies costs a task
        # group per request, a large share of this handler's time.
        settings: Settings = request.app.state["settings"]
        clock: Clock = request.app.state["clock"]
        key_hash = _key_hash(request)
        event = parse_event(await request.body())
        outcome = await ingest_one(
            event, secret_key=settings.secret_key, now=clock(), key_hash=key_hash
        )
        if isinstance(outcome, str):  # UNAUTHORIZED
            raise _unauthorized()
        body = answer(
            outcome, base_url=request.app.state["base_url"], secret_key=settings.secret_key
        )
        status = HTTP_200_OK if outcome.duplicate else HTTP_202_ACCEPTED
        # An ASGI response goes out as it is, without Litestar's response conversion.
        return ASGIResponse(body=encode(body), status_code=status, media_type=JSON)

    @post(
        "/batch",
        summary="Send up to 10,000 events (JSON array or NDJSON)",
        description=(
            "A JSON array of events, or NDJSON (Content-Type: application/x-ndjson). Answers 200"
            " with one result per event, in order: the outcome of an accepted event, or its index,"
            " status code and the field at fault. More than 10,000 events: 413."
        ),
        status_code=HTTP_200_OK,
        responses={
            200: ResponseSpec(data_container=schemas.EventBatchAccepted, description="Results")
        },
    )
    async def post_batch(
        self,
        request: Request,
        settings: NamedDependency[Settings],
        clock: NamedDependency[Clock],
        base_url: NamedDependency[str],
    ) -> Response[bytes]:
        """Ingest a batch; bad events are rejected one by one, the others accepted."""
        key_hash = _key_hash(request)
        raws = split_batch(await request.body(), request.headers.get("content-type", ""))
        results = await ingest_batch(
            raws,
            secret_key=settings.secret_key,
            now=clock(),
            key_hash=key_hash,
            base_url=base_url,
        )
        if results == UNAUTHORIZED:
            raise _unauthorized()
        return Response(encode(results), media_type=JSON)


@post(
    "/api/suppressions",
    guards=[suppression_guard],
    tags=["events"],
    summary="Report a bounced or complaining address; it is never emailed again",
    description="Needs an API key of scope suppress or admin: an ingest key sends events only.",
    status_code=HTTP_201_CREATED,
    opt={"exclude_from_csrf": True},
)
async def post_suppression(
    request: Request,
    data: JSONBody[schemas.SuppressionCreate],
    settings: NamedDependency[Settings],
    clock: NamedDependency[Clock],
) -> dict[str, Any]:
    """Suppress an address (idempotent)."""
    added = await outbox.add_suppression(data.email, data.reason, clock=clock)
    await audit.record_suppression(
        actor_of(request.user), data.email, data.reason, settings.secret_key
    )
    return added


class TriggerController(Controller):
    """Admin API for trigger rules."""

    path = "/api/triggers"
    tags = ["triggers"]
    guards = [admin_guard]

    @get("/", summary="List trigger rules")
    async def list_triggers(self) -> list[schemas.Trigger]:
        """Every trigger."""
        return await trigger_admin.list_triggers()

    @post("/", summary="Create a trigger rule")
    async def create_trigger(
        self, request: Request, data: JSONBody[schemas.TriggerCreate], clock: NamedDependency[Clock]
    ) -> schemas.Trigger:
        """Create a trigger (409 when its key exists)."""
        trigger = await trigger_admin.create_trigger(data, clock=clock)
        await audit.record(actor_of(request.user), "trigger", "create", trigger.key, after=trigger)
        return trigger

    @get("/{key:str}", summary="One trigger rule")
    async def get_trigger(self, key: FromPath[str]) -> schemas.Trigger:
        """A trigger by key."""
        return await trigger_admin.get_trigger(key)

    @patch("/{key:str}", summary="Change a trigger rule")
    async def update_trigger(
        self, request: Request, key: FromPath[str], data: JSONBody[schemas.TriggerUpdate]
    ) -> schemas.Trigger:
        """Change the fields given."""
        before = await trigger_admin.get_trigger(key)
        after = await trigger_admin.update_trigger(key, data)
        await audit.record(
            actor_of(request.user), "trigger", "update", key, before=before, after=after
        )
        return after

    @delete("/{key:str}", summary="Deactivate a trigger rule", status_code=HTTP_200_OK)
    async def deactivate_trigger(self, request: Request, key: FromPath[str]) -> schemas.Trigger:
        """Deactivate a trigger; its invitations stay."""
        before = await trigger_admin.get_trigger(key)
        after = await trigger_admin.deactivate_trigger(key)
        await audit.record(
            actor_of(request.user), "trigger", "deactivate", key, before=before, after=after
        )
        return after


InvitationStatus = Literal[
    "scheduled", "sent", "opened", "answered", "expired", "failed", "cancelled"
]


@get(
    "/api/invitations",
    guards=[admin_guard],
    tags=["triggers"],
    summary="List invitations with their survey links (newest first)",
)
async def list_invitations(
    settings: NamedDependency[Settings],
    base_url: NamedDependency[str],
    status: FromQuery[InvitationStatus | None] = None,
    channel: FromQuery[Literal["email", "link", "webhook"] | None] = None,
    trigger: Annotated[str | None, QueryParameter(max_length=100)] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[schemas.Invitation]:
    """Invitations, filtered by status, channel or trigger."""
    return await outbox.list_invitations(
        base_url=base_url,
        secret_key=settings.secret_key,
        status=status,
        channel=channel,
        trigger=trigger,
        limit=limit,
        offset=offset,
    )


LISTENING_HANDLERS: list[Any] = [
    EventController,
    post_suppression,
    TriggerController,
    list_invitations,
]
