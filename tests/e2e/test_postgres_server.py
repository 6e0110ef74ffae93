"""The PostgreSQL test server starts from the machine's binaries and answers SQL."""

from __future__ import annotations


def test_postgres_server_answers_sql(postgres_server):
    import psycopg

    with psycopg.connect(
        host="127.0.0.1",
        port=postgres_server.port,
        user=postgres_server.user,
        dbname=postgres_server.database,
        connect_timeout=5,
    ) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (41), (1)")
        total = conn.execute("SELECT sum(x) FROM t").fetchone()[0]
    assert total == 42
    assert int(version.split(".")[0]) >= 12
