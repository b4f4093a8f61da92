"""HTTP for getting people in: set-password and forgot-password pages, and creating accounts.

`PASSWORD_CONTROLLERS` are public (the link's token is the credential); `USER_ADMIN_CONTROLLERS`
are for admins. Services live in `surveys.password_links` and `surveys.accounts`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Template
from msgspec import Meta, Struct

from surveys.accounts import change_password
from surveys.audit import actor_of, record
from surveys.clock import Clock
from surveys.errors import Gone, Invalid
from surveys.password_links import (
    check_link,
    create_account_with_link,
    request_reset,
    set_password,
)
from surveys.rating_schemas import UserCreate, UserOut

FORGOT_ANSWER = (
    "If an account exists for that address, we have sent it a link to choose a new password. "
    "The link works once and for 48 hours."
)


# The token is in the path: keep it out of Referer headers and shared caches.
TOKEN_PAGE_HEADERS = {"referrer-policy": "no-referrer", "cache-control": "no-store"}


def _invalid_link_page() -> Template:
    return Template(
        "surveys/password_invalid.html", context={}, status_code=410, headers=TOKEN_PAGE_HEADERS
    )


class PasswordPageController(Controller):
    """Choose a password through a single-use link, or ask for one."""

    path = "/password"
    include_in_schema = False

    @get("/set/{token:str}")
    async def set_page(self, clock: NamedDependency[Clock], token: FromPath[str]) -> Template:
        """The form to choose a password, while the link is usable."""
        try:
            purpose = await check_link(token, clock=clock)
        except Gone:
            return _invalid_link_page()
        return Template(
            "surveys/password_set.html",
            context={"purpose": purpose, "token": token, "error": None, "field": None},
            headers=TOKEN_PAGE_HEADERS,
        )

    @post("/set/{token:str}", status_code=303)
    async def set(
        self, request: Request, clock: NamedDependency[Clock], token: FromPath[str]
    ) -> Template | Redirect:
        """Set the password; the link stops working."""
        form = await request.form()
        password = form.get("password") or ""
        if password != (form.get("confirm") or ""):
            error, field = "The two passwords differ.", "confirm"
        else:
            try:
                await set_password(token, password, clock=clock)
            except Gone:
                return _invalid_link_page()
            except Invalid as exc:
                if exc.field == "token":
                    return _invalid_link_page()
                error, field = f"Please choose a password of {exc.message}.", "password"
            else:
                return Redirect(path="/login?next=/", status_code=303)
        purpose = await check_link(token, clock=clock)
        return Template(
            "surveys/password_set.html",
            context={"purpose": purpose, "token": token, "error": error, "field": field},
            status_code=422,
            headers=TOKEN_PAGE_HEADERS,
        )

    @get("/forgot")
    async def forgot_page(self) -> Template:
        """The form asking for the account's email."""
        return Template("surveys/password_forgot.html", context={"sent": False})

    @post("/forgot", status_code=200)
    async def forgot(self, request: Request, clock: NamedDependency[Clock]) -> Template:
        """Record the request; the answer and the work are the same whether the account exists."""
        form = await request.form()
        email = form.get("email") or ""
        await request_reset(email if isinstance(email, str) else "", clock=clock)
        return Template(
            "surveys/password_forgot.html", context={"sent": True, "message": FORGOT_ANSWER}
        )


class UserAdminController(Controller):
    """Admins create accounts; each gets an email with a link to set its password."""

    path = "/api/users"
    tags = ["accounts"]

    @post("/", status_code=201, summary="Create an account and email its set-password link")
    async def create(
        self,
        base_url: NamedDependency[str],
        clock: NamedDependency[Clock],
        request: Request,
        data: JSONBody[UserCreate],
    ) -> UserOut:
        """Create an account without a password; a set-password email is queued."""
        account = await create_account_with_link(
            email=data.email,
            name=data.name,
            roles=data.roles,
            department_key=data.department,
            base_url=base_url,
            clock=clock,
        )
        await record(actor_of(request.user), "user", "create", account.email, after=data)
        # create_user refused an unknown department key, so the account is in the one asked for.
        department = data.department if account.department_id is not None else None
        return msgspec.convert(
            {**asdict(account), "department": department, "password_set": False}, UserOut
        )


class PasswordChange(Struct, forbid_unknown_fields=True):
    """A logged-in person's new password, with the current one."""

    current_password: Annotated[str, Meta(max_length=1024)]
    new_password: Annotated[str, Meta(max_length=1024)]


class PasswordChangeController(Controller):
    """A logged-in person changes their password; every session of the account ends."""

    path = "/api/password"
    tags = ["accounts"]

    @post(
        "/",
        status_code=204,
        summary="Change my password (every session of the account ends: log in again)",
    )
    async def change(
        self, request: Request, clock: NamedDependency[Clock], data: JSONBody[PasswordChange]
    ) -> None:
        """Check the current password and set the new one; 422 names the field at fault."""
        account = getattr(request.user, "account", None)
        if account is None:
            raise Invalid("an API key has no password", field="current_password")
        await change_password(account.id, data.current_password, data.new_password, clock=clock)


PASSWORD_CONTROLLERS: list = [PasswordPageController]
PASSWORD_CHANGE_CONTROLLERS: list = [PasswordChangeController]
USER_ADMIN_CONTROLLERS: list = [UserAdminController]
