"""HTTP for the customer's link to lift their own opt-out (`surveys.opt_in`): public, like /s/.

A GET shows the question with one button and changes nothing; the POST, protected by the same
form token as the survey forms, lifts the opt-out. Every word is in the customer's language.
"""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template

from surveys.clock import Clock
from surveys.customer_language import browser_wording, customer_wording
from surveys.errors import DomainError
from surveys.languages import N_, Wording
from surveys.opt_in import LinkExpired, LinkUsed, check_link, lift_opt_out, link_customer
from surveys.organisation import current_organisation
from surveys.password_pages import TOKEN_PAGE_HEADERS
from surveys.survey_controllers import browser_locales, form_tokens_of, problem_page

NOT_VALID = (
    N_("Page not found"),
    (
        N_("This link is not valid."),
        N_("Please check that the whole link from your message was opened."),
    ),
)
# What an error page says, by the service's error: a title and what to do.
LINK_PAGES: dict[type, tuple[str, tuple[str, ...]]] = {
    LinkExpired: (
        N_("This link is no longer valid"),
        (
            N_(
                "Links to receive surveys again work for a limited time. "
                "Please contact us for a new one."
            ),
        ),
    ),
    LinkUsed: (
        N_("You already receive surveys"),
        (N_("This link has been used: you receive our surveys again."),),
    ),
}
NO_COOKIE_NOTICE = N_(
    "Nothing has changed yet: your browser did not keep this page's security cookie (cookies "
    "may be blocked). Please press the button again."
)


async def _wording(request: Request, token: str, customer_id: int | None = None) -> Wording:
    """The customer's language when the link is genuine, else the browser's."""
    secret_key = request.app.state["settings"].secret_key
    customer_id = customer_id or link_customer(token, secret_key)
    if customer_id is not None:
        return await customer_wording(customer_id)
    return browser_wording(browser_locales(request), await current_organisation())


async def _problem(request: Request, token: str, error: DomainError) -> Template:
    says = LINK_PAGES.get(type(error), NOT_VALID)
    wording = await _wording(request, token)
    return problem_page(wording, error.status_code, TOKEN_PAGE_HEADERS, says=says)


async def _page(
    request: Request,
    token: str,
    customer_id: int,
    *,
    done: bool,
    status_code: int = 200,
    cookie: Cookie | None = None,
) -> Template:
    wording = await _wording(request, token, customer_id)
    return Template(
        "surveys/opt_in.html",
        context={
            **wording.template_context(),
            "action": f"/opt-in/{token}",
            "done": done,
            "notice": wording.text(NO_COOKIE_NOTICE) if cookie else None,
        },
        status_code=status_code,
        headers=TOKEN_PAGE_HEADERS,
        cookies=[cookie] if cookie else [],
    )


class OptInPageController(Controller):
    """The customer confirms they want surveys again; nothing changes until they press."""

    path = "/opt-in"
    include_in_schema = False

    @get("/{token:str}")
    async def show(
        self, request: Request, clock: NamedDependency[Clock], token: FromPath[str]
    ) -> Template:
        """The question and its button, while the link is valid; 404/410 pages otherwise."""
        secret_key = request.app.state["settings"].secret_key
        try:
            link = await check_link(token, secret_key=secret_key, clock=clock)
        except DomainError as error:
            return await _problem(request, token, error)
        return await _page(request, token, link.customer_id, done=False)

    @post("/{token:str}", opt={"exclude_from_csrf": True}, status_code=200)
    async def lift(
        self, request: Request, clock: NamedDependency[Clock], token: FromPath[str]
    ) -> Template:
        """Lift the opt-out; without a valid form token, the question again (403)."""
        settings = request.app.state["settings"]
        cookie = form_tokens_of(request).check(request, await request.form())
        try:
            if cookie is not None:
                link = await check_link(token, secret_key=settings.secret_key, clock=clock)
                return await _page(
                    request, token, link.customer_id, done=False, status_code=403, cookie=cookie
                )
            link = await lift_opt_out(token, secret_key=settings.secret_key, clock=clock)
        except DomainError as error:
            return await _problem(request, token, error)
        return await _page(request, token, link.customer_id, done=True)


OPT_IN_CONTROLLERS: list = [OptInPageController]
