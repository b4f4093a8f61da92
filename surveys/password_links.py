"""Getting people in: accounts created without a password, set-password and reset links by email.

Links are single-use and valid 48 hours (`surveys.accounts`); the email is queued as a Message
in the same transaction that issues the link. A reset asked for by the "forgot password" form
is recorded first and issued by the delivery worker (`process_reset_requests`), so the form's
answer and its timing are the same whether or not the account exists.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from surveys.accounts import Account, create_user, issue_password_link, use_password_link
from surveys.audit import record
from surveys.clock import Clock, system_clock
from surveys.employee_mail import queue_password_email
from surveys.errors import Gone
from surveys.rounds import write_transaction
from surveys.tables import PasswordResetRequest, PasswordToken, User
from surveys.tokens import token_hash

# At most one reset email per account in this time, so the form cannot flood an inbox.
RESET_COOLDOWN = timedelta(minutes=5)
# At most this many "forgot password" requests per address an hour are recorded.
RESETS_PER_ADDRESS = 5
RESET_LIMIT_WINDOW = timedelta(hours=1)


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


def _email_hash(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()


async def request_reset(email: str, *, clock: Clock = system_clock) -> bool:
    """Record a "forgot password" request; the same work whether or not the account exists.

    One row is written for any well-formed address under its limit (RESETS_PER_ADDRESS an
    hour); `process_reset_requests` issues the link later, if an active account has it. Returns
    whether the request was recorded (for tests and logs, never for the person asking).
    """
    if not isinstance(email, str) or "\x00" in email:
        return False
    email = email.strip().lower()
    if not email or len(email) > 320:
        return False
    digest = _email_hash(email)
    now = clock()
    async with write_transaction():
        recent = await PasswordResetRequest.count().where(
            (PasswordResetRequest.email_hash == digest)
            & (PasswordResetRequest.requested_at > now - RESET_LIMIT_WINDOW)
        )
        if recent >= RESETS_PER_ADDRESS:
            return False
        await PasswordResetRequest(email=email, email_hash=digest, requested_at=now).save()
    return True


async def process_reset_requests(
    *, base_url: str, clock: Clock = system_clock, limit: int = 100
) -> int:
    """Issue the links of recorded requests whose account exists; returns how many were queued.

    Run by the delivery worker. Each request is claimed with a conditional update (so several
    workers never both answer one), its address forgotten, and at most one reset email per
    account goes out per RESET_COOLDOWN. Requests older than a day are deleted.
    """
    now = clock()
    await PasswordResetRequest.delete().where(
        PasswordResetRequest.requested_at < now - timedelta(days=1)
    )
    pending = (
        await PasswordResetRequest.select(PasswordResetRequest.id, PasswordResetRequest.email)
        .where(PasswordResetRequest.processed_at.is_null())
        .order_by(PasswordResetRequest.id)
        .limit(limit)
    )
    queued = 0
    for request in pending:
        async with write_transaction():
            claimed = (
                await PasswordResetRequest.update(
                    {PasswordResetRequest.processed_at: now, PasswordResetRequest.email: ""}
                )
                .where(
                    (PasswordResetRequest.id == request["id"])
                    & PasswordResetRequest.processed_at.is_null()
                )
                .returning(PasswordResetRequest.id)
            )
            if claimed and await _send_reset(request["email"], base_url, clock):
                queued += 1
    return queued


async def _send_reset(email: str, base_url: str, clock: Clock) -> bool:
    # Inside the caller's transaction: the link, its email and the claim commit together.
    user = (
        await User.select(User.id, User.email, User.name)
        .where((User.email == email) & (User.active == True))
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
    """Set the password behind a link (once); 410 for a used or expired link, 422 for a weak one.

    The audit log records it, the person as its actor (the link stood for them); never the
    password or its hash."""
    purpose = await check_link(token, clock=clock)
    async with write_transaction():
        account = await use_password_link(token, password, clock=clock)
        await record(
            account.email,
            "user",
            f"{purpose} password",
            account.email,
            after={"password_changed_at": clock()},
            clock=clock,
        )
        return account
