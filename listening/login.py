"""Log in and out with a session cookie."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, MediaType, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromQuery
from litestar.response import Redirect, Template
from litestar.utils.scope.state import ScopeState
from msgspec import Struct

from listening.auth import principal_of
from listening.login_throttle import DEVICE_COOKIE, LoginThrottle
from listening.sessions import start_session
from surveys.accounts import authenticate


class LoginForm(Struct):
    """The login form's fields."""

    email: str = ""
    password: str = ""
    next: str = "/"


def _safe_next(target: str) -> str:
    # Only same-site paths: an open redirect would turn the login page into a phishing aid.
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def landing_page(roles: tuple[str, ...]) -> str:
    """Where a person goes after logging in."""
    if "executive" in roles or "admin" in roles:
        return "/dashboards"
    if "employee" in roles:
        return "/rate"
    return "/"


class LoginController(Controller):
    """The login form, the session it starts, and logout."""

    tags = ["accounts"]

    @get("/login", include_in_schema=False)
    async def login_page(self, request: Request, next: FromQuery[str] = "/") -> Template:
        """Show the login form."""
        return Template(
            "listening/login.html",
            context={"next": _safe_next(next), "error": None, "email": ""},
        )

    @post("/login", include_in_schema=False, status_code=303)
    async def login(
        self,
        request: Request,
        data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Any:
        """Check the credentials and start a session."""
        throttle: LoginThrottle = request.app.state["login_throttle"]
        now = request.app.state["clock"]()
        device = throttle.device(request.cookies.get(DEVICE_COOKIE), data.email)
        await throttle.check(data.email, device, now.timestamp())
        account = await authenticate(data.email, data.password)
        if account is None:
            await throttle.failed(data.email, device, now.timestamp())
            return Template(
                "listening/login.html",
                context={
                    "next": _safe_next(data.next),
                    "error": "Wrong email or password.",
                    "email": data.email,
                },
                status_code=401,
                # The handler also answers with a Redirect, so Litestar would default to JSON.
                media_type=MediaType.HTML,
            )
        await throttle.succeeded(data.email, device, now.timestamp())
        start_session(request, account, now)
        target = _safe_next(data.next)
        return Redirect(
            path=landing_page(account.roles) if target == "/" else target,
            status_code=303,
            cookies=[throttle.device_cookie(account.email)],
        )

    @post("/logout", include_in_schema=False, status_code=303)
    async def logout(self, request: Request) -> Redirect:
        """End the session: it is deleted, so a copy of the cookie stops working too."""
        request.clear_session()
        return Redirect(path="/login", status_code=303)

    @get("/", include_in_schema=False)
    async def home(self, request: Request) -> Redirect:
        """Send people to the page for their role."""
        principal = principal_of(request)
        if principal is None:
            return Redirect(path="/login", status_code=303)
        return Redirect(path=landing_page(principal.roles), status_code=303)

    @get("/api/session", tags=["accounts"], summary="Who is logged in, and the CSRF token")
    async def session_info(self, request: Request) -> dict[str, Any]:
        """The session's user and the CSRF token JSON clients send as X-CSRFToken."""
        principal = principal_of(request)
        account = principal.account if principal else None
        return {
            "user": None
            if account is None
            else {"email": account.email, "name": account.name, "roles": list(account.roles)},
            "csrf_token": ScopeState.from_scope(request.scope).csrf_token or None,
        }
