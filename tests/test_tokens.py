"""Survey-link tokens: the time-ordered form of new invitations and the plain form of older ones."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest
from trigger_org import FakeClock, event
from trigger_org import load_org as load_trigger_org

from listening.ingest.drivers import ingest_events
from listening.uids import new_uid
from surveys.errors import NotFound
from surveys.responses import find_invitation
from surveys.tables import Invitation
from surveys.tokens import (
    ORDERED_LENGTH,
    PLAIN_LENGTH,
    invitation_token,
    token_and_key,
    token_hash,
)

SECRET = "tokens-secret-" + "x" * 40


def test_new_uids_give_time_ordered_tokens_and_keys():
    first = new_uid()
    time.sleep(0.005)
    second = new_uid()
    assert uuid.UUID(first).version == 7
    tokens = [invitation_token(SECRET, u) for u in (first, second)]
    assert all(len(t) == ORDERED_LENGTH for t in tokens)
    keys = [token_hash(t) for t in tokens]
    # Later invitations sort later: the unique look-up index grows at its end.
    assert keys[0].startswith("t") and keys[0] < keys[1]
    assert all(len(k) == 64 for k in keys)
    # The timestamp is the uid's; the rest depends on the secret.
    assert keys[0][1:13] == (first[:8] + first[9:13])
    assert invitation_token("another-" + SECRET, first) != tokens[0]
    assert invitation_token("another-" + SECRET, first)[:8] == tokens[0][:8]


def test_uids_are_unique_version_7_in_time_order():
    uids = [new_uid() for _ in range(5000)]
    assert len(set(uids)) == len(uids)
    parsed = [uuid.UUID(u) for u in uids]
    assert {u.version for u in parsed} == {7}
    assert {u.variant for u in parsed} == {uuid.RFC_4122}
    assert all(str(p) == u for p, u in zip(parsed, uids, strict=True))
    stamps = [u[:8] + u[9:13] for u in uids]
    assert stamps == sorted(stamps)
    assert abs(int(stamps[0], 16) - time.time() * 1000) < 60_000


# A uid as releases before version-7 uids wrote them: version 8, time-ordered token.
VERSION_8_UID = "019abcde-f012-8345-9678-9abcdef01234"


def test_token_and_key_made_together_match_the_token_and_its_hash():
    uids = [new_uid() for _ in range(200)] + [str(uuid.uuid4()) for _ in range(50)]
    for uid in [*uids, VERSION_8_UID]:
        token, key = token_and_key(SECRET, uid)
        assert token == invitation_token(SECRET, uid)
        assert key == token_hash(token)


def test_earlier_uids_keep_their_plain_tokens():
    # Random uids, and version-7 uids stamped before time-ordered tokens existed (2024 here).
    for uid in (str(uuid.uuid4()), "0190e1c2-aaaa-7bbb-8ccc-123456789012"):
        token = invitation_token(SECRET, uid)
        assert len(token) == PLAIN_LENGTH
        assert not token_hash(token).startswith("t")


async def test_links_of_both_forms_open_and_tampered_ones_do_not(db, settings):
    await load_trigger_org()
    (outcome,) = await ingest_events([event(1)], secret_key=settings.secret_key, clock=FakeClock())
    uid = outcome.invitations[0]["uid"]
    ordered = outcome.tokens[uid]
    assert len(ordered) == ORDERED_LENGTH
    row = await Invitation.select(Invitation.id, Invitation.token_hash).first()
    assert row["token_hash"] == token_hash(ordered) and row["token_hash"].startswith("t")
    assert (await find_invitation(ordered, clock=FakeClock())).id == row["id"]
    # A plain-form link, as invitations made before time-ordered tokens carry, still opens.
    plain_uid = str(uuid.uuid4())
    plain = invitation_token(settings.secret_key, plain_uid)
    await Invitation.update(
        {Invitation.uid: plain_uid, Invitation.token_hash: token_hash(plain)}
    ).where(Invitation.id == row["id"])
    assert (await find_invitation(plain, clock=FakeClock())).id == row["id"]
    # A link sent with a version-8 uid, as earlier releases made them, still opens.
    token = invitation_token(settings.secret_key, VERSION_8_UID)
    assert len(token) == ORDERED_LENGTH and token_hash(token).startswith("t019abcdef012")
    await Invitation.update(
        {Invitation.uid: VERSION_8_UID, Invitation.token_hash: token_hash(token)}
    ).where(Invitation.id == row["id"])
    assert (await find_invitation(token, clock=FakeClock())).id == row["id"]
    # One character changed in the secret part, or the time part: nothing found.
    for position in (20, 3):
        changed = ordered[:position] + ("A" if ordered[position] != "A" else "B")
        changed += ordered[position + 1 :]
        with pytest.raises(NotFound):
            await find_invitation(changed, clock=FakeClock())
    # The database alone (uid and key) does not give the link: another secret makes another.
    forged = invitation_token("not-the-" + settings.secret_key, uid)
    with pytest.raises(NotFound):
        await find_invitation(forged, clock=FakeClock())


async def test_survey_pages_open_from_time_ordered_links(db, settings, client):
    await load_trigger_org()
    (outcome,) = await ingest_events(
        [event(2, occurred_at=datetime.now(UTC))], secret_key=settings.secret_key
    )
    token = outcome.tokens[outcome.invitations[0]["uid"]]
    assert len(token) == ORDERED_LENGTH
    page = await client.get(f"/s/{token}", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert f'action="/s/{token}"' in page.text
