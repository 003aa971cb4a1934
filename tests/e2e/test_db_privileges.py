"""The servers' MariaDB login can change rows but not the schema: `chat` has only
SELECT, INSERT, UPDATE and DELETE (scripts/db.sh), and only `chatctl migrate` logs in as
the schema owner (setting db_migrate_user). An SQL injection or a leaked server config
therefore cannot drop or alter a table."""

import pymysql
import pytest

DDL = [
    "CREATE TABLE intruder (id INT)",
    "ALTER TABLE messages ADD COLUMN intruder INT",
    "DROP TABLE events",
    "TRUNCATE TABLE sessions",
    "CREATE INDEX intruder ON users (username)",
    "GRANT SELECT ON chat.* TO 'chat'@'localhost'",
]


@pytest.mark.parametrize("sql", DDL)
def test_runtime_user_cannot_change_the_schema(servers, sql):
    with pytest.raises(pymysql.err.MySQLError) as info:
        servers.db(sql)
    # 1142: command denied to user (table privileges); 1044: access denied to database
    assert info.value.args[0] in (1142, 1044), info.value.args
    assert servers.db("SELECT COUNT(*) FROM events")[0][0] >= 0


def test_runtime_user_grants_are_dml_only(servers):
    grants = " ".join(row[0] for row in servers.db("SHOW GRANTS"))
    assert "GRANT SELECT, INSERT, UPDATE, DELETE ON `chat`.*" in grants, grants
    assert "ALL PRIVILEGES" not in grants, grants


def test_migrate_needs_the_owner_and_runs_with_it(servers):
    env = dict(servers.env)
    env["CHAT_DB_MIGRATE_USER"] = ""  # fall back to the runtime user
    r = servers.chatctl("migrate", check=False, env=env)
    assert r.returncode != 0
    assert "command denied" in r.stderr, r.stderr
    ok = servers.chatctl("migrate")
    assert ok.returncode == 0
