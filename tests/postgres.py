"""A throw-away PostgreSQL server for the tests (Debian's ``postgresql`` package, or any
PostgreSQL whose ``initdb``/``pg_ctl`` are on PATH), and per-test databases on it.

The server lives in a temporary directory: its data, its log and its unix socket. It listens
on 127.0.0.1 on a free port, with ``fsync=off`` (nothing here has to survive a crash), and is
stopped by :meth:`PostgresServer.stop`; a watchdog shell stops it too if the test process dies
without cleaning up (so a killed pytest never leaves a server running on a shared machine).
``initdb`` refuses to run as root: as root every server command runs as the ``postgres``
system user (``runuser``), on a directory that user owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

ENV_URL = "HOTLINE_TEST_POSTGRES_URL"
# Generous on two busy cores; each command is bounded so a wedged server fails the session.
INITDB_TIMEOUT_S = 180
START_TIMEOUT_S = 60


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here (binaries missing)."""


def find_bin_dir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: PATH first, then Debian's layout
    (``/usr/lib/postgresql/<major>/bin``, newest major first)."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    for c in candidates:
        if (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """One ``postgres`` process on a temporary data directory (see the module docstring)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._watchdog: subprocess.Popen[bytes] | None = None
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser") or shutil.which("setpriv")
            if runuser is None:
                raise PostgresUnavailable("running as root and neither runuser nor setpriv is available")
            if runuser.endswith("setpriv"):
                import pwd

                pw = pwd.getpwnam("postgres")
                self._as_user = [
                    runuser, f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups", "--",
                ]  # fmt: skip
            else:
                self._as_user = [runuser, "-u", "postgres", "--"]
            try:
                shutil.chown(self.root, "postgres", "postgres")
            except (LookupError, PermissionError) as exc:
                raise PostgresUnavailable(
                    f"running as root and there is no usable postgres user: {exc}"
                ) from exc

    def _run(self, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        cmd = [*self._as_user, str(self.bin_dir / args[0]), *args[1:]]
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.root
        )

    def _server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def start(self) -> None:
        r = self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--locale=C", "--no-sync", "--no-instructions", timeout=INITDB_TIMEOUT_S,
        )  # fmt: skip
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
        last = ""
        for _ in range(3):  # the free port can be taken between probing and binding
            self.port = _free_port()
            opts = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60 "
                "-c shared_buffers=32MB"
            )
            r = self._run(
                "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w",
                "-t", str(START_TIMEOUT_S), "start", timeout=START_TIMEOUT_S + 10,
            )  # fmt: skip
            if r.returncode == 0:
                self._start_watchdog()
                return
            last = f"{r.stdout}\n{r.stderr}\n{self._server_log()}"
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=30)
        raise RuntimeError(f"PostgreSQL did not start:\n{last}")

    def _start_watchdog(self) -> None:
        # Stops the server and removes its directory once this process is gone (/proc works
        # across users, kill -0 does not); exits by itself once the server is stopped normally.
        pidfile = self.data / "postmaster.pid"
        script = (
            f'while [ -d /proc/{os.getpid()} ] && [ -f "{pidfile}" ]; do sleep 2; done; '
            f'[ -f "{pidfile}" ] && "{self.bin_dir / "pg_ctl"}" -D "{self.data}" -m immediate -w stop '
            f'&& rm -rf "{self.root}"'
        )
        self._watchdog = subprocess.Popen(
            [*self._as_user, "sh", "-c", script],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self) -> None:
        try:
            if self.data.exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop", timeout=40)
        finally:
            if self._watchdog is not None:
                # Its own session: the group holds runuser and the shell it started.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._watchdog.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._watchdog.wait(5)
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


@contextlib.contextmanager
def running_server() -> Iterator[str]:
    """A started throw-away server's admin URL (database ``postgres``); stopped on exit."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise PostgresUnavailable(
            "PostgreSQL is not installed (no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin); "
            f"install it (apt-get install postgresql) or set {ENV_URL}"
        )
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


def sqlalchemy_url(url: str) -> str:
    """``url`` with the psycopg 3 driver (``postgresql://`` means psycopg2 to SQLAlchemy)."""
    u = sa.engine.make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new empty database on ``server_url``'s server (its user needs CREATEDB), dropped after."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    name = f"hotline_t_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        deadline = time.monotonic() + 30
        with admin.connect() as conn:
            while True:
                # A store left open by a failed test must not keep its database alive.
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :n AND pid <> pg_backend_pid()"
                    ),
                    {"n": name},
                )
                try:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
                    break
                except sa.exc.OperationalError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        admin.dispose()
