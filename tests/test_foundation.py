"""Health, login, sessions, API keys and guards."""

from __future__ import annotations

from conftest import PASSWORD, login


async def test_health_reports_engine(client, engine_name):
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": engine_name}


async def test_login_with_right_password_starts_a_session(client, admin_user):
    await login(client, admin_user.email, PASSWORD)
    me = (await client.get("/api/session")).json()
    assert me["user"]["email"] == "admin@example.com"
    assert me["user"]["roles"] == ["admin"]


async def test_login_with_wrong_password_is_refused(client, admin_user):
    await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "email": admin_user.email,
            "password": "wrong",
            "_csrf_token": client.cookies.get("lp_csrf"),
        },
    )
    assert response.status_code == 401
    assert "Wrong email or password" in response.text
    assert (await client.get("/api/session")).json()["user"] is None


async def test_login_without_csrf_token_is_refused(client, admin_user):
    await client.get("/login")
    response = await client.post("/login", data={"email": admin_user.email, "password": PASSWORD})
    assert response.status_code == 403


async def test_session_cookie_is_httponly_and_samesite(client, admin_user):
    await client.get("/login")
    response = await client.post(
        "/login",
        data={
            "email": admin_user.email,
            "password": PASSWORD,
            "_csrf_token": client.cookies.get("lp_csrf"),
        },
        follow_redirects=False,
    )
    cookie = next(
        v for k, v in response.headers.multi_items() if k == "set-cookie" and "lp_session" in v
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie.replace("samesite", "SameSite")


async def test_logout_ends_the_session(admin_client):
    response = await admin_client.post("/logout", follow_redirects=False)
    assert response.status_code == 303
    assert (await admin_client.get("/api/session")).json()["user"] is None


async def test_wrong_api_key_is_401(client, db):
    response = await client.get("/api/departments", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401


async def test_revoked_api_key_is_401(client, db):
    from listening.apikeys import create_key, revoke_key

    key_id, key = await create_key("old", "admin")
    assert (
        await client.get("/api/departments", headers={"Authorization": f"Bearer {key}"})
    ).status_code == 200
    await revoke_key(key_id)
    assert (
        await client.get("/api/departments", headers={"Authorization": f"Bearer {key}"})
    ).status_code == 401


async def test_ingest_key_cannot_use_admin_api(client, ingest_key):
    response = await client.get(
        "/api/departments", headers={"Authorization": f"Bearer {ingest_key}"}
    )
    assert response.status_code == 403


async def test_api_key_is_stored_only_as_hash(db):
    from listening.apikeys import create_key, hash_key
    from listening.tables import ApiKey

    _, key = await create_key("x", "ingest")
    rows = await ApiKey.select()
    assert rows[0]["key_hash"] == hash_key(key)
    assert all(key not in str(v) for v in rows[0].values())


async def test_anonymous_admin_api_is_401(client, db):
    assert (await client.get("/api/departments")).status_code == 401


async def test_openapi_schema_is_served(client, db):
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Listening Post"


async def test_passwords_are_stored_as_argon2id_hashes(admin_user):
    from surveys.tables import User

    row = await User.select(User.password_hash).where(User.email == admin_user.email).first()
    assert row["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in row["password_hash"]
