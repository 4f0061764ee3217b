"""Ingest against the database's own limit for the very rows it stored: the same-schema ratio.

A real server (daphne, embedded default: SQLite WAL) ingests spans (OTLP protobuf through
``/v1/traces``) and events (native JSON through ``/api/events``). The limit is then plain
``sqlite3`` ``executemany`` of the rows the server stored, read back with every column, into a copy
of its own tables and indexes in a temporary file (same pragmas: WAL, synchronous=NORMAL), 1,000 rows
a transaction. Before the timed inserts the copy is given
every row the server's table held before the measured ones, so the limit writes into the same state
(index sizes) the server wrote into: a random-keyed index costs more per row the larger it is, and
an empty copy overstated the limit from the second round on (``limit_empty_per_second`` and
``ratio_empty`` give that figure too). The ratio (durable items/s over limit rows/s) is what the
server's own work costs on top of the database's: parsing, per-item Python, the observers of ingest,
the request round trip, commits shared by the requests in flight instead of 1,000 rows each.

Each kind is run for ``BENCH_RATIO_ROUNDS`` rounds, each round ingesting then measuring the limit,
so both figures of a ratio see the same machine load; the line gives the median ratio and the spread.

With ``BENCH_PG_URL`` (a PostgreSQL server's URL, e.g. ``postgres://postgres@127.0.0.1:5432/postgres``)
the same is measured on PostgreSQL, printed as lines of their own (``ingest_ratio_pg_*``): the server
runs on a new database there (dropped afterwards; embedded otherwise: no Redis), and the limit is
psycopg's ``executemany`` of the rows it stored, read back as text, into a copy of the table made
with ``CREATE TABLE … (LIKE … INCLUDING ALL)`` (its columns, defaults, constraints and indexes) in
the same database and given the rows the table held before them, 1,000 rows a transaction;
``COPY … FROM STDIN`` of the same rows, 1,000 a transaction, is given beside it
(``copy_per_second``, ``ratio_copy``).
"""

from __future__ import annotations

import json
import os
import platform
import random
import secrets
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.bench_ingest import CLIENTS, PER_REQUEST, event_request, run_ingest, span_request
from bench.server import BenchServer, bench_server

ROUNDS = int(os.environ.get("BENCH_RATIO_ROUNDS", "3"))
PG_URL = os.environ.get("BENCH_PG_URL", "")
ROWS_PER_TRANSACTION = 1000
GOAL = 0.35


def _stored_rows(server: BenchServer, table: str, since_rowid: int) -> tuple[list[str], list[tuple[object, ...]]]:
    """The rowid and every column of the rows ``table`` gained after ``since_rowid``, as SQLite
    stored them; the first column is ``rowid``."""
    with sqlite3.connect(server.var_dir / "eventscope.sqlite3") as db:
        cursor = db.execute(f"SELECT rowid, * FROM {table} WHERE rowid > ? ORDER BY rowid", (since_rowid,))
        columns = [description[0] for description in cursor.description]
        return columns, cursor.fetchall()


def _max_rowid(server: BenchServer, table: str) -> int:
    with sqlite3.connect(server.var_dir / "eventscope.sqlite3") as db:
        return int(db.execute(f"SELECT COALESCE(MAX(rowid), 0) FROM {table}").fetchone()[0])


def executemany_limit(
    server: BenchServer, table: str, columns: list[str], rows: list[tuple[object, ...]], before_rowid: int | None
) -> float:
    """Rows/s of plain ``sqlite3`` executemany of ``rows`` into a copy of ``table`` (its definition
    and every index, as the server's database holds them) in a temporary file. With ``before_rowid``
    the copy first gets the server's rows below it (untimed, then checkpointed): the state the server
    inserted ``rows`` into; with None it starts empty. No trigger fires on an insert into these
    tables (the one on events is for deletes)."""
    server_db = server.var_dir / "eventscope.sqlite3"
    with sqlite3.connect(server_db) as source:
        schema = [
            sql
            for (sql,) in source.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND type IN ('table', 'index') AND sql IS NOT NULL"
                " ORDER BY type DESC",
                (table,),
            )
        ]
    with tempfile.TemporaryDirectory(prefix="eventscope-limit-") as tmp:
        db = sqlite3.connect(Path(tmp) / "limit.sqlite3", isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA wal_autocheckpoint=10000")  # the pragmas the server uses
        for sql in schema:
            db.execute(sql)
        if before_rowid is not None:
            db.execute("ATTACH DATABASE ? AS server", (str(server_db),))
            db.execute("BEGIN")
            db.execute(f"INSERT INTO main.{table} SELECT * FROM server.{table} WHERE rowid < ?", (before_rowid,))
            db.execute("COMMIT")
            db.execute("DETACH DATABASE server")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        started = time.perf_counter()
        for offset in range(0, len(rows), ROWS_PER_TRANSACTION):
            db.execute("BEGIN")
            db.executemany(insert, rows[offset : offset + ROWS_PER_TRANSACTION])
            db.execute("COMMIT")
        elapsed = time.perf_counter() - started
        db.close()
    return len(rows) / elapsed


def measure(
    server: BenchServer, path: str, content_type: str, make_body: Callable[[random.Random], bytes], table: str
) -> dict[str, object]:
    rounds: list[tuple[float, float]] = []  # (durable items/s, limit rows/s)
    empties: list[float] = []  # the limit into an empty copy
    failed = 0
    for round_number in range(ROUNDS):
        since = _max_rowid(server, table)
        # Each round its own ids: a span sent again is a duplicate, which stores nothing.
        own = random.Random(1000 + round_number)
        result = run_ingest(server, path, content_type, lambda _, own=own: make_body(own), table)
        failed += int(result["failed_requests"])  # type: ignore[call-overload]
        columns, stored = _stored_rows(server, table, since)
        stored = stored[len(stored) - int(result["stored"]) :]  # type: ignore[call-overload]  # not the warm-up's
        first_rowid = int(stored[0][0])  # type: ignore[call-overload]
        columns, rows = columns[1:], [row[1:] for row in stored]
        rounds.append((float(result["per_second"]), executemany_limit(server, table, columns, rows, first_rowid)))  # type: ignore[arg-type]
        empties.append(executemany_limit(server, table, columns, rows, None))
    summary = _summary(rounds, failed, int(result["sent"]))  # type: ignore[call-overload]
    empty_ratios = [rate / empty for (rate, _), empty in zip(rounds, empties, strict=True)]
    summary.update(
        limit_empty_per_second=round(statistics.median(empties)), ratio_empty=round(statistics.median(empty_ratios), 3)
    )
    return summary


def _summary(rounds: list[tuple[float, float]], failed: int, sent: int) -> dict[str, object]:
    ratios = [rate / limit for rate, limit in rounds]
    return {
        "per_second": round(statistics.median(rate for rate, _ in rounds)),
        "limit_per_second": round(statistics.median(limit for _, limit in rounds)),
        "ratio": round(statistics.median(ratios), 3),
        "ratio_min": round(min(ratios), 3),
        "ratio_max": round(max(ratios), 3),
        "rounds": len(rounds),
        "items_per_round": sent,
        "failed_requests": failed,
        "goal_ratio": GOAL,
    }


# --- PostgreSQL ------------------------------------------------------------------------------------


def _pg_connect(url: str) -> Any:
    import psycopg  # only this variant needs it

    return psycopg.connect(url, autocommit=True)


@contextmanager
def _pg_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server of ``server_url``, dropped afterwards; its URL."""
    name = f"eventscope_ratio_{secrets.token_hex(4)}"
    with _pg_connect(server_url) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(server_url)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    finally:
        with _pg_connect(server_url) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _pg_count(server: BenchServer, table: str) -> int:
    with _pg_connect(server.env["DATABASE_URL"]) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _pg_columns(db: Any, table: str) -> list[str]:
    return [
        name
        for (name,) in db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s"
            " ORDER BY ordinal_position",
            [table],
        )
    ]


def _pg_stored_rows(server: BenchServer, table: str, since: Any) -> tuple[list[str], list[tuple[object, ...]]]:
    """Every column (as text: PostgreSQL casts it back on the way in) of the rows ``table`` gained
    after id ``since``, in id order."""
    with _pg_connect(server.env["DATABASE_URL"]) as db:
        columns = _pg_columns(db, table)
        select = ", ".join(f'"{column}"::text' for column in columns)
        # By the stored id, not by its text (the output column of the same name, which ORDER BY would take).
        rows = db.execute(f"SELECT {select} FROM {table} WHERE id > %s ORDER BY {table}.id", [since]).fetchall()
    return columns, rows


def _pg_max_id(server: BenchServer, table: str, empty: Any) -> Any:
    with _pg_connect(server.env["DATABASE_URL"]) as db:
        found = db.execute(f"SELECT max(id) FROM {table}").fetchone()[0]
    return empty if found is None else found


def pg_limits(
    server: BenchServer, table: str, columns: list[str], rows: list[tuple[object, ...]]
) -> tuple[float, float]:
    """Rows/s of psycopg ``executemany`` and of ``COPY`` of ``rows`` into copies of ``table`` (its
    columns, defaults, constraints and indexes) in the server's database, 1,000 a transaction. Each
    copy first gets the server's rows whose id is below the first of ``rows`` (untimed): the state
    the server inserted them into, as on SQLite."""
    names = ", ".join(f'"{column}"' for column in columns)
    rates = []
    with _pg_connect(server.env["DATABASE_URL"]) as db:
        db.execute("CREATE SCHEMA IF NOT EXISTS bench_limit")
        id_type = db.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s"
            " AND column_name = 'id'",
            [table],
        ).fetchone()[0]
        for way in ("many", "copy"):
            copy = f"bench_limit.{table}_{way}"
            db.execute(f"DROP TABLE IF EXISTS {copy}")
            db.execute(f"CREATE TABLE {copy} (LIKE public.{table} INCLUDING ALL)")
            db.execute(
                f"INSERT INTO {copy} ({names}) SELECT {names} FROM public.{table} WHERE id < CAST(%s AS {id_type})",
                [rows[0][columns.index("id")]],
            )
            insert = f"INSERT INTO {copy} ({names}) VALUES ({', '.join(['%s'] * len(columns))})"
            started = time.perf_counter()
            for offset in range(0, len(rows), ROWS_PER_TRANSACTION):
                chunk = rows[offset : offset + ROWS_PER_TRANSACTION]
                with db.transaction(), db.cursor() as cursor:
                    if way == "many":
                        cursor.executemany(insert, chunk)
                    else:
                        with cursor.copy(f"COPY {copy} ({names}) FROM STDIN") as stream:
                            for row in chunk:
                                stream.write_row(row)
            rates.append(len(rows) / (time.perf_counter() - started))
            db.execute(f"DROP TABLE {copy}")
    return rates[0], rates[1]


def measure_pg(
    server: BenchServer,
    path: str,
    content_type: str,
    make_body: Callable[[random.Random], bytes],
    table: str,
    empty_id: Any,
) -> dict[str, object]:
    rounds: list[tuple[float, float]] = []  # (durable items/s, executemany rows/s)
    copies: list[float] = []
    failed = 0
    for round_number in range(ROUNDS):
        since = _pg_max_id(server, table, empty_id)
        own = random.Random(1000 + round_number)
        result = run_ingest(server, path, content_type, lambda _, own=own: make_body(own), table, _pg_count)
        failed += int(result["failed_requests"])  # type: ignore[call-overload]
        columns, rows = _pg_stored_rows(server, table, since)
        rows = rows[len(rows) - int(result["stored"]) :]  # type: ignore[call-overload]  # not the warm-up's
        many, copy = pg_limits(server, table, columns, rows)
        rounds.append((float(result["per_second"]), many))  # type: ignore[arg-type]
        copies.append(copy)
    summary = _summary(rounds, failed, int(result["sent"]))  # type: ignore[call-overload]
    copy_ratios = [rate / copy for (rate, _), copy in zip(rounds, copies, strict=True)]
    summary.update(
        copy_per_second=round(statistics.median(copies)), ratio_copy=round(statistics.median(copy_ratios), 3)
    )
    return summary


def main_pg(server_url: str) -> None:
    conditions = {
        "mode": "PostgreSQL, embedded otherwise (no Redis), every ingest observer registered",
        "server": "daphne, 1 process",
        "client": "http.client keep-alive, one connection per client thread, separate process",
        "clients": CLIENTS,
        "items_per_request": PER_REQUEST,
        "limit": f"psycopg executemany (and COPY) of the stored rows into a copy of the table and its indexes "
        f"(CREATE TABLE LIKE INCLUDING ALL) holding the rows the server's table held before them, "
        f"{ROWS_PER_TRANSACTION} a transaction, same database",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    with _pg_database(server_url) as url, bench_server({"DATABASE_URL": url}) as server:
        spans = measure_pg(
            server,
            "/v1/traces",
            "application/x-protobuf",
            lambda rng: span_request(rng, time.time_ns()),
            "tracing_span",
            0,
        )
        events = measure_pg(server, "/api/events", "application/json", event_request, "dashboard_event", "")
    for name, endpoint, result in (("spans", "/v1/traces (OTLP protobuf)", spans), ("events", "/api/events", events)):
        print(json.dumps({"bench": f"ingest_ratio_pg_{name}", "endpoint": endpoint, **result, **conditions}))


def main() -> None:
    conditions = {
        "mode": "embedded default (SQLite WAL, synchronous=NORMAL), every ingest observer registered",
        "server": "daphne, 1 process",
        "client": "http.client keep-alive, one connection per client thread, separate process",
        "clients": CLIENTS,
        "items_per_request": PER_REQUEST,
        "limit": f"sqlite3 executemany of the stored rows into a copy of the table and its indexes holding the rows "
        f"the server's table held before them (limit_empty_per_second: into an empty copy), "
        f"{ROWS_PER_TRANSACTION} a transaction, same pragmas, temporary file",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    with bench_server() as server:
        spans = measure(
            server,
            "/v1/traces",
            "application/x-protobuf",
            lambda rng: span_request(rng, time.time_ns()),
            "tracing_span",
        )
        events = measure(server, "/api/events", "application/json", event_request, "dashboard_event")
    for name, endpoint, result in (("spans", "/v1/traces (OTLP protobuf)", spans), ("events", "/api/events", events)):
        print(json.dumps({"bench": f"ingest_ratio_{name}", "endpoint": endpoint, **result, **conditions}))
    if PG_URL:
        main_pg(PG_URL)


if __name__ == "__main__":
    main()
