"""A real PostgreSQL server for the tests, started in a temporary folder from the server
binaries on this machine (Debian's `postgresql` package provides them).

PostgreSQL refuses to run as root; when the tests run as root (CI does), the server runs as
the `postgres` account through `runuser`, its folder owned by that account.
"""

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from .server import free_port

HOW_TO_ENABLE = ("PostgreSQL tests skipped: no PostgreSQL server binaries (initdb, pg_ctl) found; "
                 "install Debian's `postgresql` package or put their folder on PATH to run them")


def find_bindir() -> str | None:
    on_path = shutil.which("initdb")
    if on_path:
        return os.path.dirname(on_path)
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


class PostgresServer:
    """initdb + pg_ctl on 127.0.0.1 and a free port; `url(dbname)` to connect."""

    def __init__(self, bindir: str, durable: bool = False):
        self.bindir = bindir
        self.port = free_port()
        self.base = Path(tempfile.mkdtemp(prefix="jobs-pg-"))
        self.data = self.base / "data"
        self.log_path = self.base / "server.log"
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        # The test suite's server trades durability for speed; benchmarks ask for a durable one.
        self.settings = [] if durable else ["-c", "fsync=off", "-c", "synchronous_commit=off",
                                            "-c", "full_page_writes=off"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, os.path.join(self.bindir, args[0]), *args[1:]],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> "PostgresServer":
        if self.as_user:
            account = pwd.getpwnam("postgres")
            os.chown(self.base, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync")
        self.pg_ctl("start")
        return self

    def pg_ctl(self, action: str, wait: bool = True) -> None:
        options = " ".join(["-p", str(self.port), "-k", str(self.base),
                            "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200",
                            *self.settings])
        args = ["pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-o", options,
                "-m", "fast", action]
        self._run(*args, *(["-w"] if wait else ["-W"]))

    def stop(self) -> None:
        try:
            self.pg_ctl("stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def wait_until_accepting(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=1).close()
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


_emptying: dict[str, psycopg.Connection] = {}


def empty_tables(url: str) -> None:
    """Every table of the service emptied (the schema, its migrations and the keys the
    migrations made kept)."""
    conn = _emptying.get(url)
    if conn is None or conn.closed or conn.broken:  # one for the run: a connect costs 10 ms
        conn = _emptying[url] = psycopg.connect(url, autocommit=True)
    tables = [r[0] for r in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
        "AND tablename NOT IN ('schema_migrations', 'service_keys', 'event_marks')")]
    # DELETE and setval, not TRUNCATE ... RESTART IDENTITY: the same empty tables and
    # fresh identities, in about 2 ms instead of 50 (TRUNCATE makes new files), before
    # each of a thousand tests. Replica mode skips the foreign keys, so any order does.
    with conn.transaction():
        conn.execute("SET LOCAL session_replication_role = replica")
        for table in tables:
            conn.execute(f"DELETE FROM {table}")
        conn.execute("SELECT setval(pg_get_serial_sequence(t, 'seq'), 1, false) "
                     "FROM unnest(%s::text[]) AS t", (tables,))
        conn.execute("UPDATE event_marks SET txid = 0, seq = 0")  # the feed's marks kept
