import os
import sqlite3
from urllib.parse import urlparse

import pytest


@pytest.mark.parametrize("i", range(30))
async def test_empty(i, db):
    from surveys.tables import Department

    await Department.insert(Department(key=f"d{i}", name="x"))
    path = urlparse(os.environ["LISTENING_DATABASE_URL"]).path
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("select count(*) from department").fetchone()[0] == 1
