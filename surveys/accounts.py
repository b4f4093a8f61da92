"""People who log in: creating users, hashing and checking passwords, single-use links."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from surveys.audit import record
from surveys.clock import Clock, system_clock
from surveys.errors import Conflict, Invalid, NotFound
from surveys.tables import Department, PasswordToken, User

ROLES = ("admin", "executive", "employee")
# The test suite sets LISTENING_FAST_PASSWORD_HASH=1: still argon2id, with the cheapest
# parameters, because hundreds of logins at production cost would dominate its run time.
_hasher = (
    PasswordHasher.from_parameters(profiles.CHEAPEST)
    if os.environ.get("LISTENING_FAST_PASSWORD_HASH") == "1"
    else PasswordHasher()
)
# Verifying against this keeps unknown emails as slow as wrong passwords.
_DUMMY_HASH = _hasher.hash("not a password of anyone")
MIN_PASSWORD_LENGTH = 8
LINK_VALIDITY = timedelta(hours=48)


@dataclass(frozen=True)
class Account:
    """A logged-in person as the rest of the system sees them."""

    id: int
    email: str
    name: str
    roles: tuple[str, ...]
    department_id: int | None
    # Sessions started before this are over (a password change or reset ends them).
    password_changed_at: datetime | None = None

    def has(self, role: str) -> bool:
        """Whether the account holds this role."""
        return role in self.roles


def hash_password(password: str) -> str:
    """An argon2id hash of a password."""
    return _hasher.hash(password)


def _account(row: dict) -> Account:
    return Account(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        roles=tuple(r for r in row["roles"].split(",") if r),
        department_id=row["department"],
        password_changed_at=row.get("password_changed_at"),
    )


def check_roles(roles: list[str] | tuple[str, ...], department_key: str | None) -> None:
    """Refuse unknown roles, no roles, or an employee without a department."""
    if not roles:
        raise Invalid("at least one role is required", field="roles")
    for role in roles:
        if role not in ROLES:
            raise Invalid(f"unknown role {role!r}; choose from {', '.join(ROLES)}", field="roles")
    if "employee" in roles and not department_key:
        raise Invalid("an employee needs a department", field="department")


async def create_user(
    *,
    email: str,
    name: str,
    roles: list[str] | tuple[str, ...],
    password: str | None = None,
    department_key: str | None = None,
    clock: Clock = system_clock,
) -> Account:
    """Create a user; without a password the account waits for its set-password link."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 320:
        raise Invalid("not an email address", field="email")
    if not name.strip():
        raise Invalid("a name is required", field="name")
    check_roles(roles, department_key)
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"at least {MIN_PASSWORD_LENGTH} characters", field="password")
    department_id = None
    if department_key:
        department = (
            await Department.select(Department.id).where(Department.key == department_key).first()
        )
        if department is None:
            raise NotFound(f"no department {department_key!r}", field="department")
        department_id = department["id"]
    if await User.exists().where(User.email == email):
        raise Conflict(f"a user with email {email} exists", field="email")
    user = User(
        email=email,
        name=name.strip(),
        roles=",".join(dict.fromkeys(roles)),
        department=department_id,
        password_hash=hash_password(password) if password else None,
        created_at=clock(),
    )
    await user.save()
    return _account(user.to_dict())


async def authenticate(email: str, password: str) -> Account | None:
    """The account for these credentials, or None; timing does not tell whether the email exists."""
    row = (
        await User.select()
        .where((User.email == email.strip().lower()) & (User.active == True))
        .first()
    )
    stored = row["password_hash"] if row and row["password_hash"] else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or not row["password_hash"]:
        return None
    if _hasher.check_needs_rehash(stored):
        await User.update({User.password_hash: hash_password(password)}).where(User.id == row["id"])
    return _account(row)


async def get_account(user_id: int) -> Account | None:
    """The active account with this id, or None."""
    row = await User.select().where((User.id == user_id) & (User.active == True)).first()
    return _account(row) if row else None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_password_link(user_id: int, purpose: str, *, clock: Clock = system_clock) -> str:
    """A new single-use token to set ("set") or reset ("reset") a password, valid 48 hours."""
    token = secrets.token_urlsafe(32)
    now = clock()
    await PasswordToken(
        user=user_id,
        purpose=purpose,
        token_hash=_token_hash(token),
        expires_at=now + LINK_VALIDITY,
        created_at=now,
    ).save()
    return token


async def use_password_link(token: str, password: str, *, clock: Clock = system_clock) -> Account:
    """Set the password behind a single-use link; the link works once and for 48 hours."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"at least {MIN_PASSWORD_LENGTH} characters", field="password")
    now = clock()
    row = await PasswordToken.select().where(PasswordToken.token_hash == _token_hash(token)).first()
    if row is None or row["used_at"] is not None or row["expires_at"] < now:
        raise Invalid("this link is not valid any more; ask for a new one", field="token")
    # Marking it used with a conditional update makes concurrent use count once.
    used = (
        await PasswordToken.update({PasswordToken.used_at: now})
        .where((PasswordToken.id == row["id"]) & PasswordToken.used_at.is_null())
        .returning(PasswordToken.id)
    )
    if not used:
        raise Invalid("this link is not valid any more; ask for a new one", field="token")
    await User.update(
        {User.password_hash: hash_password(password), User.password_changed_at: now}
    ).where(User.id == row["user"])
    account = await get_account(row["user"])
    if account is None:
        raise NotFound("account not found", field="token")
    return account


async def change_password(
    user_id: int, current: str, new: str, *, clock: Clock = system_clock
) -> Account:
    """Change a logged-in person's password; every session of the account ends with it."""
    row = await User.select().where((User.id == user_id) & (User.active == True)).first()
    stored = row["password_hash"] if row and row["password_hash"] else _DUMMY_HASH
    try:
        _hasher.verify(stored, current)
    except (VerificationError, InvalidHashError):
        raise Invalid("the current password is wrong", field="current_password") from None
    if row is None or not row["password_hash"]:
        raise Invalid("the current password is wrong", field="current_password")
    if len(new) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"at least {MIN_PASSWORD_LENGTH} characters", field="new_password")
    now = clock()
    await User.update(
        {User.password_hash: hash_password(new), User.password_changed_at: now}
    ).where(User.id == user_id)
    account = await get_account(user_id)
    assert account is not None
    # Who and when, never the password or its hash.
    await record(
        account.email,
        "user",
        "change password",
        account.email,
        before={"password_changed_at": row["password_changed_at"]},
        after={"password_changed_at": now},
        clock=clock,
    )
    return account
