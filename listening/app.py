"""The application factory: mounts every package's routes, applies guards and middleware."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar, Router
from litestar.config.allowed_hosts import AllowedHostsConfig
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from piccolo.engine.postgres import PostgresEngine

import dashboards
import surveys
from dashboards.controllers import DASHBOARD_CONTROLLERS
from dashboards.controllers import PUBLIC_ROUTES as DASHBOARD_PUBLIC_ROUTES
from listening.admin import ADMIN_HANDLERS
from listening.admin import API_HANDLERS as ADMIN_API_HANDLERS
from listening.auth import (
    PrincipalMiddleware,
    admin_guard,
    employee_guard,
    executive_guard,
    staff_guard,
)
from listening.csrf import SessionCSRFMiddleware
from listening.errors import EXCEPTION_HANDLERS
from listening.event_privacy import STORED_EVENTS
from listening.form_tokens import COOKIE_NAME, FormTokens
from listening.health import health
from listening.host_check import AllowedHostNames
from listening.ingest.ingestor import ingest_lifespan
from listening.ingest_controllers import LISTENING_HANDLERS
from listening.login import LoginController
from listening.login_throttle import LoginThrottle
from listening.page_cache import PageCache
from listening.postgres_batch import postgres_batch_lifespan
from listening.rate_limit import RateLimitMiddleware, make_counter
from listening.security_headers import add_security_headers
from listening.sessions import session_config, session_store
from listening.settings import Settings, allowed_hosts, get_settings, public_base_url
from listening.worker import worker_lifespan
from surveys.catalog_controllers import CATALOG_CONTROLLERS
from surveys.clock import Clock, system_clock
from surveys.opt_in_controllers import OPT_IN_CONTROLLERS
from surveys.organisation_style import organisation_css
from surveys.password_pages import (
    PASSWORD_CHANGE_CONTROLLERS,
    PASSWORD_CONTROLLERS,
    USER_ADMIN_CONTROLLERS,
)
from surveys.privacy_controllers import PRIVACY_CONTROLLERS
from surveys.rating_controllers import (
    RATING_CONTROLLERS,
    ROUND_ADMIN_CONTROLLERS,
    ROUND_CONTROLLERS,
)
from surveys.survey_controllers import PUBLIC_CONTROLLERS, STAFF_CONTROLLERS
from surveys.tables import Department

PACKAGE_DIRS = [
    Path(surveys.__file__).parent,
    Path(dashboards.__file__).parent,
    Path(__file__).parent,
]


# Paths that neither read a session nor act for a user: token pages and their API, feedback
# posts and the keyed event endpoints. Skipping the session and principal middleware there
# keeps the busiest requests short.
NO_SESSION_PATHS = [
    "^/s/",
    "^/opt-in/",
    "^/f/",
    "^/api/responses/",
    "^/api/events",
    "^/organisation.css$",
]


def _templates_from_memory(engine: JinjaTemplateEngine) -> None:
    # Templates ship with the package; checking their files' times on every render costs a
    # system call per template per request.
    engine.engine.auto_reload = False


def _csrf_config(settings: Settings) -> CSRFConfig:
    return CSRFConfig(
        secret=settings.secret_key,
        cookie_name=COOKIE_NAME,
        cookie_httponly=True,
        cookie_secure=settings.secure_cookies,
        cookie_samesite="lax",
    )


def _freeze_start_up_objects() -> None:
    # Everything built at start-up (routes, templates, modules) lives as long as the process;
    # moving it out of the collector's generations keeps full collections, which otherwise
    # scan it all and pause every request for tens of milliseconds, short.
    gc.collect()
    gc.freeze()


async def _keep_session(connection: Any) -> None:
    # asyncpg rolls back a transaction left open on every release; its default reset then
    # also runs RESET ALL, CLOSE ALL, UNLISTEN * and releases advisory locks, a round trip per
    # query. Nothing here sets session state on pooled connections, so that round trip goes.
    return None


@asynccontextmanager
async def _database_pool(app: Litestar) -> AsyncIterator[None]:
    # Piccolo's PostgreSQL engine opens a connection per query unless a pool runs.
    engine = Department._meta.db
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(max_size=20, reset=_keep_session)
    try:
        yield
    finally:
        if isinstance(engine, PostgresEngine):
            await engine.close_connection_pool()


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock = system_clock,
    manage_pool: bool = True,
    run_worker: bool = False,
    listen_url: str | None = None,
) -> Litestar:
    """Build the Listening Post application.

    `manage_pool=False` leaves the PostgreSQL connection pool to the caller (the tests run the
    app in their own event loop and own the pool there). `run_worker=True` runs the delivery
    worker in the app's lifespan (what `listening serve` does); `listen_url` is the address the
    server listens on, used for links in messages when LISTENING_BASE_URL is unset.
    """
    settings = settings or get_settings()
    base_url = public_base_url(settings, listen_url)
    template_dirs = [d / "templates" for d in PACKAGE_DIRS if (d / "templates").is_dir()]
    static_routers = [
        create_static_files_router(
            path=f"/static/{d.name}", directories=[d / "static"], include_in_schema=False
        )
        for d in PACKAGE_DIRS
        if (d / "static").is_dir()
    ]
    admin_api = Router(path="/api", guards=[admin_guard], route_handlers=list(CATALOG_CONTROLLERS))
    sessions = session_config(settings, exclude=NO_SESSION_PATHS)
    privacy = Router(
        path="/",
        guards=[admin_guard],
        route_handlers=list(PRIVACY_CONTROLLERS),
        dependencies={
            "event_records": Provide(lambda: STORED_EVENTS, use_cache=True, sync_to_thread=False)
        },
    )
    staff = Router(
        path="/",
        guards=[staff_guard],
        route_handlers=[*STAFF_CONTROLLERS, *PASSWORD_CHANGE_CONTROLLERS],
    )
    rate_counter = make_counter(settings, clock)
    login_throttle = LoginThrottle(settings)
    delivery = [worker_lifespan(settings, listen_url=listen_url, clock=clock)] if run_worker else []
    employees = Router(path="/", guards=[employee_guard], route_handlers=list(RATING_CONTROLLERS))
    round_admin = Router(
        path="/",
        guards=[admin_guard],
        route_handlers=[*ROUND_ADMIN_CONTROLLERS, *USER_ADMIN_CONTROLLERS],
    )
    rounds = Router(path="/", guards=[executive_guard], route_handlers=list(ROUND_CONTROLLERS))
    console = Router(path="/", guards=[admin_guard], route_handlers=list(ADMIN_HANDLERS))
    # Employees open their own department's page too; the controllers narrow them to it.
    dashboards_router = Router(
        path="/", guards=[staff_guard], route_handlers=list(DASHBOARD_CONTROLLERS)
    )
    return Litestar(
        route_handlers=[
            health,
            LoginController,
            admin_api,
            privacy,
            *PUBLIC_CONTROLLERS,
            *OPT_IN_CONTROLLERS,
            organisation_css,
            *LISTENING_HANDLERS,
            staff,
            employees,
            round_admin,
            rounds,
            console,
            *ADMIN_API_HANDLERS,
            dashboards_router,
            *DASHBOARD_PUBLIC_ROUTES,
            *PASSWORD_CONTROLLERS,
            *static_routers,
        ],
        dependencies={
            "clock": Provide(lambda: clock, use_cache=True, sync_to_thread=False),
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
            # Links in emails and webhooks: one configured address, never the request's Host.
            "base_url": Provide(lambda: base_url, use_cache=True, sync_to_thread=False),
        },
        stores={"sessions": session_store(settings, clock)},
        middleware=[
            # Litestar's allowed-hosts check, before anything else reads the request (as the
            # app's `allowed_hosts` setting it would run after these middlewares).
            DefineMiddleware(
                AllowedHostNames,
                config=AllowedHostsConfig(allowed_hosts=allowed_hosts(settings, listen_url)),
            ),
            # Then limits, before any parsing, CSRF check or session work.
            DefineMiddleware(RateLimitMiddleware, settings=settings, counter=rate_counter),
            DefineMiddleware(SessionCSRFMiddleware, config=_csrf_config(settings)),
            sessions.middleware,
            DefineMiddleware(PrincipalMiddleware, exclude=NO_SESSION_PATHS),
        ],
        template_config=TemplateConfig(
            directory=template_dirs,
            engine=JinjaTemplateEngine,
            engine_callback=_templates_from_memory,
        ),
        openapi_config=OpenAPIConfig(
            title="Listening Post",
            version="0.1.0",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
        ),
        exception_handlers=EXCEPTION_HANDLERS,
        before_send=[add_security_headers],
        lifespan=[
            *([_database_pool] if manage_pool else []),
            ingest_lifespan,
            postgres_batch_lifespan,
            *delivery,
        ],
        on_startup=[_freeze_start_up_objects],
        on_shutdown=[rate_counter.close, login_throttle.close],
        request_max_body_size=settings.max_body_bytes,
        state={
            "settings": settings,
            "clock": clock,  # for hot handlers that skip dependency injection
            "run_worker": run_worker,
            "listen_url": listen_url,
            "base_url": base_url,
            "rate_counter": rate_counter,
            "login_throttle": login_throttle,
            "page_cache": PageCache(),
            # The public survey and feedback forms check their own tokens (surveys' handlers).
            "form_tokens": FormTokens(settings.secret_key, secure=settings.secure_cookies),
        },
    )
