"""A small organisation for the employee self-rating tests: departments, steps, employees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conftest import PASSWORD, app_with

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
BASE_URL = "http://lp.example"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move time forward."""
        self.now += timedelta(**delta)


def _rating(key: str, kind: str, customer: str, employee: str) -> dict:
    return {"key": key, "kind": kind, "customer": customer, "employee": employee}


JOURNEY = {
    "departments": [
        {"key": "ops", "name": "Operations"},
        {"key": "support", "name": "Customer Support"},
        {"key": "sales", "name": "Sales"},
    ],
    "journeys": [
        {
            "key": "order",
            "name": "Order and delivery",
            "steps": [
                {
                    "key": "quote",
                    "name": "You get a quote",
                    "department": "sales",
                    "questions": [
                        _rating(
                            "csat",
                            "csat",
                            "How satisfied are you with the quote?",
                            "How satisfied are customers with our quotes?",
                        )
                    ],
                },
                {
                    "key": "pack",
                    "name": "Your order is packed",
                    "department": "ops",
                    "questions": [
                        _rating(
                            "csat",
                            "csat",
                            "How satisfied are you with the packaging?",
                            "How satisfied are customers with our packaging?",
                        ),
                        {"key": "why", "kind": "text", "required": False, "customer": "Why?"},
                    ],
                },
                {
                    "key": "ship",
                    "name": "Your order arrives",
                    "department": "ops",
                    "moment_of_truth": True,
                    "questions": [
                        _rating(
                            "ease",
                            "ces",
                            "How easy was it to receive your order?",
                            "How easy do customers find receiving their order?",
                        ),
                        _rating(
                            "nps",
                            "nps",
                            "How likely are you to recommend us?",
                            "How likely are customers to recommend us after delivery?",
                        ),
                    ],
                },
                {
                    "key": "ticket",
                    "name": "Your request is resolved",
                    "department": "support",
                    "questions": [
                        _rating(
                            "csat",
                            "csat",
                            "How satisfied are you with how we resolved your request?",
                            "How satisfied are customers with how we resolve requests?",
                        )
                    ],
                },
            ],
        }
    ],
}


async def load_org() -> None:
    """Load the departments, journey, steps and questions."""
    from surveys.journey_file import load_journey

    await load_journey(JOURNEY, clock=lambda: NOW - timedelta(days=30))


async def make_employee(n: int, department: str = "ops", *, password: str | None = PASSWORD):
    """Employee number n of a department."""
    from surveys.accounts import create_user

    return await create_user(
        email=f"{department}{n}@example.com",
        name=f"{department.title()} Person {n}",
        roles=["employee"],
        password=password,
        department_key=department,
        clock=lambda: NOW - timedelta(days=10),
    )


async def open_round(
    clock: Clock, departments: tuple[str, ...] = ("ops",), *, name: str = "Winter round"
):
    """A round that opened an hour ago and runs a week."""
    from surveys.rounds import create_round

    return await create_round(
        name=name,
        starts_at=(clock() - timedelta(hours=1)).isoformat(),
        ends_at=(clock() + timedelta(days=7)).isoformat(),
        departments=list(departments),
        base_url=BASE_URL,
        clock=clock,
    )


def make_app(settings, clock: Clock):
    """The application on the test database, with the test's clock."""
    from dataclasses import replace

    # Round tests move the clock by weeks; sessions that outlive them keep each person logged in
    # (expiry itself is tested with the default lifetimes in test_sessions).
    year = 365 * 24 * 3600
    settings = replace(settings, session_idle_seconds=year, session_lifetime_seconds=year)
    return app_with(settings, clock)


class Clients:
    """HTTP clients on one app, one per person, closed together."""

    def __init__(self, app):
        self.app = app
        self._open: list = []

    async def new(self, email: str | None = None, password: str = PASSWORD):
        """A client, logged in when an email is given."""
        import httpx
        from conftest import login

        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://testserver.local"
        )
        self._open.append(client)
        if email is not None:
            await login(client, email, password)
        return client

    async def close(self) -> None:
        """Close every client."""
        for client in self._open:
            await client.aclose()
