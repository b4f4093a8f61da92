"""HTTP for the customer's side: survey pages, the token JSON API, feedback posts, opt-out and
follow-ups. Services hold the logic; guards are applied by the shell that mounts these lists.
"""

from __future__ import annotations

from typing import Annotated, Any, Protocol

import msgspec
from litestar import Controller, MediaType, Request, Response, get, patch, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_201_CREATED

from surveys.answers import AskedQuestion, accepted_locales
from surveys.audit import actor_of
from surveys.clock import Clock
from surveys.customer_language import invitation_page, page_wording
from surveys.errors import Conflict, DomainError, Invalid, NotFound
from surveys.feedback_posts import HONEYPOT_FIELD, feedback_form, post_feedback
from surveys.follow_ups import (
    get_follow_up,
    list_follow_ups,
    record_change,
    update_follow_up,
    viewer_of,
)
from surveys.languages import N_, Wording
from surveys.optout import opt_out, opt_out_state
from surveys.organisation import current_organisation
from surveys.parameters import RowId
from surveys.response_schemas import (
    FollowUpOut,
    FollowUpUpdate,
    Problem,
    QuestionOut,
    ResponseCreate,
    ResponseCreated,
    SurveyForCustomer,
)
from surveys.responses import Notify, find_invitation, open_invitation, submit_response

# What an error page says, by status: a title and what to do, for people (never the code's
# own message, which is written for the API).
PROBLEM_PAGES = {
    404: (
        N_("Page not found"),
        (
            N_("This link does not lead to a survey."),
            N_("Please check that the whole link from your message was opened."),
        ),
    ),
    409: (
        N_("Already answered"),
        (N_("You have already answered this survey. Thank you!"),),
    ),
    410: (
        N_("This survey has closed"),
        (
            N_("This survey link has expired."),
            N_(
                "Surveys stay open for a limited time. Thank you for wanting to answer; "
                "we will ask again another time."
            ),
        ),
    ),
    429: (
        N_("Please wait a moment"),
        (
            N_(
                "This page was asked for many times in a short while, so your last request "
                "was not taken."
            ),
            N_("Please wait a minute and try again."),
        ),
    ),
}
SOMETHING_WRONG = (
    N_("Something went wrong"),
    (N_("Your answer could not be taken. Please try again a little later."),),
)
NO_COOKIE_NOTICE = N_(
    "Your answers were not sent yet: your browser did not keep this page's security cookie "
    "(it may have been open for a long time, or cookies are blocked). Please check your "
    "answers and press “Send” again."
)


class FormTokens(Protocol):
    """The public forms' cross-site tokens, which the shell keeps in the app's state.

    `app.state["form_tokens"]`: infrastructure of the shell, used here without importing it.
    """

    field_name: str  # the form field carrying the token: not an answer

    def for_page(self, request: Request) -> tuple[str, str | None]:
        """The token a page carries, and the Set-Cookie header when it is a fresh one."""
        ...

    def check(self, request: Request, form: Any) -> Cookie | None:
        """None when the form's token holds, else the cookie of a fresh token to set."""
        ...


def form_tokens_of(request: Request) -> FormTokens:
    """The shell's form tokens, from the app's state (dependencies cost a task group a request)."""
    return request.app.state["form_tokens"]


def _notify(settings: Any, base_url: str) -> Notify:
    return Notify(base_url=base_url, webhook_url=settings.follow_up_webhook_url)


def browser_locales(request: Request) -> list[str]:
    """The browser's languages, most wanted first (Accept-Language)."""
    return accepted_locales(request.headers.get("accept-language"))


def problem_page(
    wording: Wording,
    status_code: int,
    headers: dict[str, str] | None = None,
    *,
    says: tuple[str, tuple[str, ...]] | None = None,
) -> Template:
    """A customer's error page for a status, in `wording`'s language: `says` (a title and what
    to do), else what the status's page says."""
    title, lines = says or PROBLEM_PAGES.get(status_code, SOMETHING_WRONG)
    return Template(
        "surveys/problem.html",
        context={
            **wording.template_context(),
            "title": wording.text(title),
            "lines": [wording.text(line) for line in lines],
        },
        status_code=status_code,
        headers=headers,
    )


async def _problem_page(error: DomainError, request: Request, token: str | None = None) -> Template:
    """The error page in the invitation's language (else the browser's)."""
    # Always a page here, whatever the Accept header: these links are opened by people.
    wording = await page_wording(token, browser_locales(request))
    return problem_page(wording, error.status_code)


def _answers_of(form: Any, tokens: FormTokens) -> dict[str, Any]:
    not_answers = (tokens.field_name, HONEYPOT_FIELD)
    raw: dict[str, Any] = {}
    for key in form:
        if key in not_answers:
            continue
        values = form.getall(key)
        raw[key] = values[0] if len(values) == 1 else values
    return raw


def _shown_values(raw: dict[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else "" for k, v in raw.items()}


def _lang(questions: list[AskedQuestion]) -> str:
    return next((q.locale for q in questions if q.locale), None) or "en"


def _version(wording: Wording) -> tuple:
    """What of the organisation a cached page shows."""
    organisation = wording.organisation
    return (organisation.name, organisation.logo, organisation.version)


async def _wording(questions: list[AskedQuestion]) -> Wording:
    """The page's words in the language its questions are shown in."""
    return Wording.of(_lang(questions), await current_organisation())


async def _question_form(
    template: str,
    step_key: str,
    step_name: str,
    questions: list[AskedQuestion],
    values: dict[str, str],
    errors: dict[str, str],
    *,
    extra: dict[str, Any],
    status_code: int = 200,
    notice: str | None = None,
    cookies: list[Cookie] | None = None,
) -> Template:
    """A survey or feedback form with the customer's answers and the errors beside them."""
    wording = await _wording(questions)
    return Template(
        template,
        context={
            **wording.template_context(),
            "step_name": wording.step_name(step_key, step_name),
            "questions": questions,
            "values": values,
            "errors": errors,
            "notice": wording.text(notice) if notice else None,
            "preselected": None,
            **extra,
        },
        status_code=status_code,
        cookies=cookies or [],
    )


class SurveyPageController(Controller):
    """The survey page of an invitation link, its submission and the thank-you page."""

    path = "/s"
    include_in_schema = False

    @get("/{token:str}", opt={"exclude_from_csrf": True})
    async def show(self, request: Request, token: FromPath[str]) -> Response | Template:
        """Show the survey; `?answer=N` (from the email) preselects the first rating only.

        The page is served from the page cache and carries its own form token (the CSRF
        middleware stays out: this is the busiest page and the submission checks the token).
        """
        try:
            # From the app's state: resolving dependencies costs a task group per request.
            invitation = await open_invitation(token, clock=request.app.state["clock"])
        except DomainError as error:
            return await _problem_page(error, request, token)
        values: dict[str, str] = {}
        first_rating = invitation.first_rating
        chosen = (request.query_params.get("answer") or "").strip()
        if (
            first_rating is not None
            and chosen.isdigit()
            and len(chosen) < 4
            and int(chosen) in first_rating.levels
        ):
            values[first_rating.key] = str(int(chosen))
        form_token, set_cookie = form_tokens_of(request).for_page(request)
        headers = {"set-cookie": set_cookie} if set_cookie else {}
        questions = invitation.questions
        wording = await _wording(questions)
        step_name = wording.step_name(invitation.step_key, invitation.step_name)
        preselected = first_rating and values.get(first_rating.key)
        pages = request.app.state["page_cache"]  # the shell's page cache
        html = pages.page(
            request.app.template_engine.engine,
            "surveys/survey.html",
            (step_name, tuple(questions), preselected, wording.lang, _version(wording)),
            {
                **wording.template_context(),
                "step_name": step_name,
                "questions": questions,
                "values": values,
                "errors": {},
                "notice": None,
                "preselected": preselected,
                "action": f"/s/{pages.TOKEN_MARK}",
                "unsubscribe_url": f"/s/{pages.TOKEN_MARK}/unsubscribe",
            },
            token=token,
            form_token=form_token,
        )
        return Response(html, media_type=MediaType.HTML, headers=headers)

    @staticmethod
    async def _form(
        token: str,
        step_key: str,
        step_name: str,
        questions: list[AskedQuestion],
        values: dict[str, str],
        errors: dict[str, str],
        **options: Any,
    ) -> Template:
        return await _question_form(
            "surveys/survey.html",
            step_key,
            step_name,
            questions,
            values,
            errors,
            extra={"action": f"/s/{token}", "unsubscribe_url": f"/s/{token}/unsubscribe"},
            **options,
        )

    @post("/{token:str}", opt={"exclude_from_csrf": True}, status_code=303)
    async def submit(self, request: Request, token: FromPath[str]) -> Template | Redirect:
        """Store the answers, or show the form again with each error next to its question."""
        # From the app's state: resolving dependencies costs a task group per request.
        clock, settings = request.app.state["clock"], request.app.state["settings"]
        form = await request.form()
        tokens = form_tokens_of(request)
        raw = _answers_of(form, tokens)
        cookie = tokens.check(request, form)
        if cookie is not None:
            try:
                invitation = await find_invitation(token, clock=clock)
            except DomainError as error:
                return await _problem_page(error, request, token)
            return await self._form(
                token,
                invitation.step_key,
                invitation.step_name,
                invitation.questions,
                _shown_values(raw),
                {},
                status_code=403,
                notice=NO_COOKIE_NOTICE,
                cookies=[cookie],
            )
        try:
            notify = _notify(settings, request.app.state["base_url"])
            await submit_response(token, raw, clock=clock, notify=notify)
        except Invalid as error:
            invitation = await find_invitation(token, clock=clock)
            return await self._form(
                token,
                invitation.step_key,
                invitation.step_name,
                invitation.questions,
                _shown_values(raw),
                error.errors,
                status_code=422,
            )
        except DomainError as error:
            return await _problem_page(error, request, token)
        return Redirect(path=f"/s/{token}/thanks", status_code=303)

    @get("/{token:str}/thanks")
    async def thanks(
        self, request: Request, token: FromPath[str], clock: NamedDependency[Clock]
    ) -> Template | Redirect:
        """The thank-you page once the survey is answered; it says when a follow-up was opened."""
        try:
            await find_invitation(token, clock=clock)
        except Conflict as answered:
            page = await invitation_page(token)
            if page is None:
                return await _problem_page(answered, request, token)
            return Template(
                "surveys/thanks.html",
                context={
                    **page.wording.template_context(),
                    "follow_up": page.follow_up_opened,
                },
            )
        except DomainError as error:
            return await _problem_page(error, request, token)
        # Not answered yet: back to the form.
        return Redirect(path=f"/s/{token}", status_code=303)

    @get("/{token:str}/unsubscribe")
    async def unsubscribe_page(self, request: Request, token: FromPath[str]) -> Template:
        """A page with one button that stops all further surveys."""
        try:
            state = await opt_out_state(token)
        except DomainError as error:
            return await _problem_page(error, request, token)
        wording = await page_wording(token, browser_locales(request))
        return Template(
            "surveys/unsubscribe.html",
            context={
                **wording.template_context(),
                "action": f"/s/{token}/unsubscribe",
                "done": state.opted_out_at is not None,
            },
        )

    @post("/{token:str}/unsubscribe", opt={"exclude_from_csrf": True}, status_code=200)
    async def unsubscribe(
        self, request: Request, token: FromPath[str], clock: NamedDependency[Clock]
    ) -> Template:
        """Opt out: the page's button and the RFC 8058 one-click POST (the token protects it)."""
        try:
            secret_key = request.app.state["settings"].secret_key
            await opt_out(token, secret_key=secret_key, clock=clock)
        except DomainError as error:
            return await _problem_page(error, request, token)
        wording = await page_wording(token, browser_locales(request))
        return Template(
            "surveys/unsubscribe.html",
            context={**wording.template_context(), "action": "", "done": True},
        )


class FeedbackPostController(Controller):
    """A step's always-on feedback form, open to anyone."""

    path = "/f"
    include_in_schema = False

    @get("/{step_key:str}")
    async def show(self, request: Request, step_key: FromPath[str]) -> Template:
        """The feedback form in the visitor's language where the survey has it."""
        locales = browser_locales(request)
        try:
            form = await feedback_form(step_key, locales)
        except DomainError as error:
            return await _problem_page(error, request)
        return await self._form(form.step_key, form.step_name, form.questions, {}, {})

    @staticmethod
    async def _form(
        step_key: str,
        step_name: str,
        questions: list[AskedQuestion],
        values: dict[str, str],
        errors: dict[str, str],
        **options: Any,
    ) -> Template:
        return await _question_form(
            "surveys/feedback.html",
            step_key,
            step_name,
            questions,
            values,
            errors,
            extra={"action": f"/f/{step_key}", "honeypot": HONEYPOT_FIELD},
            **options,
        )

    @post("/{step_key:str}", opt={"exclude_from_csrf": True}, status_code=200)
    async def submit(
        self,
        request: Request,
        step_key: FromPath[str],
        clock: NamedDependency[Clock],
        settings: NamedDependency[Any],
        base_url: NamedDependency[str],
    ) -> Template:
        """Store an unsolicited response, or show the form again with the errors."""
        locales = browser_locales(request)
        form = await request.form()
        tokens = form_tokens_of(request)
        raw = _answers_of(form, tokens)
        cookie = tokens.check(request, form)
        try:
            if cookie is not None:
                shown = await feedback_form(step_key, locales)
                return await self._form(
                    shown.step_key,
                    shown.step_name,
                    shown.questions,
                    _shown_values(raw),
                    {},
                    status_code=403,
                    notice=NO_COOKIE_NOTICE,
                    cookies=[cookie],
                )
            submitted = await post_feedback(
                step_key,
                raw,
                honeypot=form.get(HONEYPOT_FIELD),
                locales=locales,
                clock=clock,
                notify=_notify(settings, base_url),
            )
        except Invalid as error:
            shown = await feedback_form(step_key, locales)
            return await self._form(
                shown.step_key,
                shown.step_name,
                shown.questions,
                _shown_values(raw),
                error.errors,
                status_code=422,
            )
        except DomainError as error:
            return await _problem_page(error, request)
        return Template(
            "surveys/thanks.html",
            context={
                **submitted.wording.template_context(),
                "feedback": True,
                "follow_up": bool(submitted.follow_up_ids),
            },
        )


_API_ERRORS = {
    404: ResponseSpec(data_container=Problem, description="Unknown token"),
    409: ResponseSpec(data_container=Problem, description="Already answered"),
    410: ResponseSpec(data_container=Problem, description="The link has expired"),
    429: ResponseSpec(data_container=Problem, description="Too many requests for this token"),
}


def _question_out(q: AskedQuestion, wording: Wording) -> QuestionOut:
    # Labels in the customer's language; options stay as stored: they are what the answer
    # must send back.
    return msgspec.structs.replace(
        msgspec.convert(q, QuestionOut, from_attributes=True),
        low_label=wording.label(q.low_label),
        high_label=wording.label(q.high_label),
    )


class ResponseApiController(Controller):
    """The survey of an invitation as JSON, for sources that embed it in their own app."""

    path = "/api/responses"
    tags = ["responses"]

    @get(
        "/{token:str}",
        summary="The invitation's survey, in the customer's language",
        description="Marks the invitation opened. The token is the one in the survey link.",
        responses=_API_ERRORS,
    )
    async def show(self, token: FromPath[str], clock: NamedDependency[Clock]) -> SurveyForCustomer:
        """The survey's questions in the customer's language."""
        invitation = await open_invitation(token, clock=clock)
        wording = await _wording(invitation.questions)
        return SurveyForCustomer(
            step=invitation.step_key,
            step_name=wording.step_name(invitation.step_key, invitation.step_name),
            locale=wording.lang,
            expires_at=invitation.expires_at,
            questions=[_question_out(q, wording) for q in invitation.questions],
        )

    @post(
        "/{token:str}",
        summary="Answer the invitation's survey",
        description=(
            'Body: {"answers": {"<question key>": <score, option or text>}}. Stored exactly '
            "once: 201, then 409. 422 names each refused question in `errors`."
        ),
        status_code=HTTP_201_CREATED,
        opt={"exclude_from_csrf": True},
        responses={
            **_API_ERRORS,
            422: ResponseSpec(data_container=Problem, description="An answer is refused"),
        },
    )
    async def submit(
        self,
        request: Request,
        token: FromPath[str],
        data: JSONBody[ResponseCreate],
        clock: NamedDependency[Clock],
        settings: NamedDependency[Any],
        base_url: NamedDependency[str],
    ) -> ResponseCreated:
        """Store the answers to the invitation's survey."""
        submitted = await submit_response(
            token, data.answers, clock=clock, notify=_notify(settings, base_url)
        )
        return ResponseCreated(id=submitted.response_id, follow_ups=len(submitted.follow_up_ids))


async def _record(request: Request, before: dict, after: dict, clock: Clock) -> None:
    """The audit entry of a follow-up's change made by a staff member (or an admin key)."""
    secret_key = request.app.state["settings"].secret_key
    await record_change(actor_of(request.user), before, after, secret_key, clock=clock)


class FollowUpForm(FollowUpUpdate):
    """The follow-up page's form."""


class FollowUpController(Controller):
    """Follow-ups for admins, executives and the employees of the owning department."""

    tags = ["follow-ups"]

    @get("/api/follow-ups", summary="Follow-ups the caller may see, newest first")
    async def list_api(
        self, request: Request, status: FromQuery[str | None] = None
    ) -> list[FollowUpOut]:
        """Admins and executives see all; employees their department's."""
        rows = await list_follow_ups(viewer_of(request.user), status=status)
        return msgspec.convert(rows, list[FollowUpOut], from_attributes=True)

    @get("/api/follow-ups/{follow_up_id:int}", summary="One follow-up")
    async def get_api(self, request: Request, follow_up_id: RowId) -> FollowUpOut:
        """One follow-up; 404 when it is not the caller's to see."""
        row = await get_follow_up(viewer_of(request.user), follow_up_id)
        return msgspec.convert(row, FollowUpOut, from_attributes=True)

    @patch(
        "/api/follow-ups/{follow_up_id:int}",
        summary="Move a follow-up along or add a note",
        responses={
            409: ResponseSpec(data_container=Problem, description="Already closed"),
            422: ResponseSpec(data_container=Problem, description="Bad status or missing note"),
        },
    )
    async def update_api(
        self,
        request: Request,
        follow_up_id: RowId,
        data: JSONBody[FollowUpUpdate],
        clock: NamedDependency[Clock],
    ) -> FollowUpOut:
        """open → in_progress → closed; closing needs a note and records who closed it."""
        viewer = viewer_of(request.user)
        before = await get_follow_up(viewer, follow_up_id)
        row = await update_follow_up(
            viewer, follow_up_id, status=data.status, note=data.note, clock=clock
        )
        await _record(request, before, row, clock)
        return msgspec.convert(row, FollowUpOut, from_attributes=True)

    @get("/follow-ups", include_in_schema=False)
    async def page(self, request: Request, status: FromQuery[str | None] = None) -> Template:
        """The follow-up list with a form on each open one."""
        rows = await list_follow_ups(viewer_of(request.user), status=status or None)
        return Template("surveys/follow_ups.html", context={"rows": rows, "status": status})

    @post("/follow-ups/{follow_up_id:int}", include_in_schema=False, status_code=303)
    async def update_page(
        self,
        request: Request,
        follow_up_id: RowId,
        data: Annotated[FollowUpForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
        clock: NamedDependency[Clock],
    ) -> Redirect | Template:
        """The page form's change; errors show the list again with the message."""
        viewer = viewer_of(request.user)
        try:
            before = await get_follow_up(viewer, follow_up_id)
            after = await update_follow_up(
                viewer, follow_up_id, status=data.status or None, note=data.note, clock=clock
            )
            await _record(request, before, after, clock)
        except (Invalid, Conflict, NotFound) as error:
            rows = await list_follow_ups(viewer)
            return Template(
                "surveys/follow_ups.html",
                context={
                    "rows": rows,
                    "status": None,
                    "error": error.message,
                    "error_id": follow_up_id,
                },
                status_code=error.status_code,
                media_type=MediaType.HTML,
            )
        return Redirect(path=f"/follow-ups#follow-up-{follow_up_id}", status_code=303)


PUBLIC_CONTROLLERS: list = [SurveyPageController, FeedbackPostController, ResponseApiController]
STAFF_CONTROLLERS: list = [FollowUpController]
