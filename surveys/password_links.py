"""Getting people in: accounts created without a password, set-password and reset links by email.

Links are single-use and valid 48 hours (`surveys.accounts`); the email is queued as a Message
in the same transaction that issues the link.
"""

from __future__ import annotations

from datetime import timedelta

from surveys.accounts import Account, create_user, issue_password_link, use_password_link
from surveys.clock import Clock, system_clock
from surveys.employee_mail import queue_password_email
from surveys.errors import Gone
from surveys.rounds import write_transaction
from surveys.tables import PasswordToken, User
from surveys.tokens import token_hash

# At most one reset email per account in this time, so the form cannot flood an inbox.
RESET_COOLDOWN = timedelta(minutes=5)


async def create_account_with_link(
    *,
    email: str,
    name: str,
    roles: list[str],
    department_key: str | None,
    base_url: str,
    clock: Clock = system_clock,
) -> Account:
    """Create an account without a password and queue the email with its set-password link."""
    async with write_transaction():
        account = await create_user(
            email=email, name=name, roles=roles, department_key=department_key, clock=clock
        )
        token = await issue_password_link(account.id, "set", clock=clock)
        await queue_password_email(
            purpose="set",
            recipient=account.email,
            name=account.name,
            token=token,
            base_url=base_url,
            clock=clock,
        )
    return account


async def request_reset(email: str, *, base_url: str, clock: Clock = system_clock) -> bool:
    """Queue a reset link if an active account has this email; callers answer the same either way.

    Returns whether an email was queued (for tests and logs, never for the person asking).
    """
    if not isinstance(email, str) or "\x00" in email:
        return False
    async with write_transaction():
        user = (
            await User.select(User.id, User.email, User.name)
            .where((User.email == email.strip().lower()) & (User.active == True))
            .first()
        )
        if user is None:
            return False
        recent = await PasswordToken.exists().where(
            (PasswordToken.user == user["id"])
            & (PasswordToken.purpose == "reset")
            & (PasswordToken.created_at > clock() - RESET_COOLDOWN)
        )
        if recent:
            return False
        token = await issue_password_link(user["id"], "reset", clock=clock)
        await queue_password_email(
            purpose="reset",
            recipient=user["email"],
            name=user["name"],
            token=token,
            base_url=base_url,
            clock=clock,
        )
    return True


async def check_link(token: str, *, clock: Clock = system_clock) -> str:
    """The purpose ("set" or "reset") of a usable link; 410 when unknown, used or expired."""
    row = (
        await PasswordToken.select(
            PasswordToken.purpose, PasswordToken.used_at, PasswordToken.expires_at
        )
        .where(PasswordToken.token_hash == token_hash(token))
        .first()
    )
    if row is None or row["used_at"] is not None or row["expires_at"] <= clock():
        raise Gone("this link is not valid any more; ask for a new one", field="token")
    return row["purpose"]


async def set_password(token: str, password: str, *, clock: Clock = system_clock) -> Account:
    """Set the password behind a link (once); 410 for a used or expired link, 422 for a weak one."""
    await check_link(token, clock=clock)
    async with write_transaction():
        return await use_password_link(token, password, clock=clock)
