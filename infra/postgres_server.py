"""Local PostgreSQL server for tests and CI, run from the Debian postgresql binaries."""

from __future__ import annotations

import asyncio
import glob
import hashlib
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import asyncpg

from infra.local import log_tail, run_sync

logger = logging.getLogger(__name__)

DEFAULT_USER = "heterdaad"
# Postgres refuses to run as root; Debian's package creates this system user.
_SERVICE_USER = "postgres"
# The cluster's own superuser, reachable only through the private unix socket.
_BOOTSTRAP_SUPERUSER = "postgres"
# sockaddr_un.sun_path is 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107


class PostgresServerError(RuntimeError):
    """The local PostgreSQL server could not be initialised, started or reached."""


def _pg_dir(state_dir: Path) -> Path:
    return state_dir / "postgres"


def _data_dir(state_dir: Path) -> Path:
    return _pg_dir(state_dir) / "data"


def _log_file(state_dir: Path) -> Path:
    return _pg_dir(state_dir) / "postgres.log"


def _socket_dir(state_dir: Path, port: int) -> Path:
    preferred = _pg_dir(state_dir).resolve() / "run"
    if len(str(preferred / f".s.PGSQL.{port}")) <= _MAX_SOCKET_PATH:
        return preferred
    # Deep state dirs (pytest tmp_path) overflow the unix socket path limit.
    digest = hashlib.sha1(str(preferred).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"heterdaad-pg-{digest}"


def _bin_dir() -> Path:
    override = os.environ.get("HETERDAAD_PG_BINDIR")
    if override:
        return Path(override)
    # Debian keeps the server binaries out of PATH, one directory per major version.
    candidates = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else -1,
    )
    for candidate in reversed(candidates):
        if (candidate / "initdb").is_file():
            return candidate
    pg_config = shutil.which("pg_config")
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        found = Path(result.stdout.strip())
        if result.returncode == 0 and (found / "initdb").is_file():
            return found
    raise PostgresServerError(
        "PostgreSQL server binaries not found (Debian: apt-get install -y postgresql)"
    )


def _service_account() -> pwd.struct_passwd | None:
    """The account to run the server as, or None to run it as ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(_SERVICE_USER)
    except KeyError:
        raise PostgresServerError(
            f"running as root needs the unprivileged '{_SERVICE_USER}' user "
            "(created by apt-get install postgresql, or: useradd --system postgres)"
        ) from None


def _run(
    state_dir: Path, args: list[str], check: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    account = _service_account()
    cmd = args if account is None else ["runuser", "-u", account.pw_name, "--", *args]
    result = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        # The server user may not be allowed into the caller's cwd (e.g. /root).
        cwd=_pg_dir(state_dir),
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise PostgresServerError(
            f"{Path(args[0]).name} failed ({result.returncode}):\n{output}\n"
            f"log {_log_file(state_dir)}:\n{log_tail(_log_file(state_dir))}"
        )
    return result


def _prepare_dirs(state_dir: Path, socket_dir: Path) -> None:
    pg_dir = _pg_dir(state_dir)
    pg_dir.mkdir(parents=True, exist_ok=True)
    socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _log_file(state_dir).touch()
    account = _service_account()
    if account is None:
        return
    # Only our own directories: data/ is left alone so restarts stay cheap (initdb
    # creates it with the right owner).
    for path in (pg_dir, socket_dir, _log_file(state_dir)):
        os.chown(path, account.pw_uid, account.pw_gid)
    probe = ["runuser", "-u", account.pw_name, "--", "test", "-w", str(pg_dir.resolve())]
    if subprocess.run(probe, check=False).returncode != 0:
        raise PostgresServerError(
            f"user '{account.pw_name}' cannot reach {pg_dir.resolve()}: a parent directory "
            "is not world-searchable (chmod o+x it, or use a state dir elsewhere)"
        )


def _initdb(state_dir: Path, bin_dir: Path) -> None:
    data = _data_dir(state_dir)
    if (data / "PG_VERSION").is_file():
        return
    logger.info("Initialising PostgreSQL cluster in %s", data)
    _run(
        state_dir,
        [
            str(bin_dir / "initdb"),
            "--pgdata",
            str(data.resolve()),
            "--username",
            _BOOTSTRAP_SUPERUSER,
            # Trust only over the unix socket, which sits in a 0700 directory;
            # TCP always needs a password.
            "--auth-local",
            "trust",
            "--auth-host",
            "scram-sha-256",
            "--encoding",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ],
    )


def _postmaster_pid(state_dir: Path) -> int | None:
    try:
        return int((_data_dir(state_dir) / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _running_port(state_dir: Path) -> int | None:
    # postmaster.pid line 4 is the port the running server listens on.
    try:
        return int((_data_dir(state_dir) / "postmaster.pid").read_text().splitlines()[3])
    except (OSError, ValueError, IndexError):
        return None


def _is_running(state_dir: Path, bin_dir: Path) -> bool:
    if not (_data_dir(state_dir) / "PG_VERSION").is_file():
        return False
    status = _run(
        state_dir,
        [str(bin_dir / "pg_ctl"), "status", "--pgdata", str(_data_dir(state_dir).resolve())],
        check=False,
    )
    return status.returncode == 0


def dsn_for(port: int, user: str, password: str, database: str) -> str:
    """The connection URL for the local server."""
    return (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
        f"@127.0.0.1:{port}/{quote(database, safe='')}"
    )


async def _ensure_role_and_database(
    socket_dir: Path, port: int, user: str, password: str, database: str
) -> None:
    conn = await asyncpg.connect(
        host=str(socket_dir), port=port, user=_BOOTSTRAP_SUPERUSER, database="postgres"
    )
    try:
        # format(%I, %L) does the quoting: DDL cannot take bind parameters.
        exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", user)
        # Superuser like the official image's POSTGRES_USER, so migrations may
        # create extensions; the password is (re)set so changing it just works.
        verb = "ALTER" if exists else "CREATE"
        template = f"{verb} ROLE %I WITH LOGIN SUPERUSER PASSWORD %L"
        await conn.execute(
            await conn.fetchval(
                "SELECT format($1::text, $2::text, $3::text)", template, user, password
            )
        )
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            template = "CREATE DATABASE %I OWNER %I"
            await conn.execute(
                await conn.fetchval(
                    "SELECT format($1::text, $2::text, $3::text)", template, database, user
                )
            )
    finally:
        await conn.close()


async def _select_one(dsn: str, connect_timeout: float) -> None:
    conn = await asyncpg.connect(dsn, timeout=connect_timeout)
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


def is_ready(dsn: str, timeout: float) -> bool:
    """True when a real connection with these credentials can run a query."""
    try:
        run_sync(asyncio.wait_for(_select_one(dsn, timeout), timeout))
    except Exception as exc:  # any failure simply means "not ready yet"
        logger.debug("PostgreSQL not ready: %r", exc)
        return False
    return True


def up(
    state_dir: Path,
    port: int,
    user: str = DEFAULT_USER,
    password: str = DEFAULT_USER,
    database: str = DEFAULT_USER,
    timeout: float = 60,
) -> str:
    """Start the server unless it already runs, ensure role and database; return a DSN."""
    bin_dir = _bin_dir()
    socket_dir = _socket_dir(state_dir, port)
    _prepare_dirs(state_dir, socket_dir)
    _initdb(state_dir, bin_dir)

    if _is_running(state_dir, bin_dir):
        running = _running_port(state_dir)
        if running is not None and running != port:
            raise PostgresServerError(
                f"PostgreSQL in {state_dir} already runs on port {running}, not {port}; "
                "run down first"
            )
    else:
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={port}",
                f"-c unix_socket_directories='{socket_dir}'",
                "-c unix_socket_permissions=0700",
            ]
        )
        logger.info(
            "Starting PostgreSQL on 127.0.0.1:%d, logging to %s", port, _log_file(state_dir)
        )
        _run(
            state_dir,
            [
                str(bin_dir / "pg_ctl"),
                "start",
                "--pgdata",
                str(_data_dir(state_dir).resolve()),
                "--log",
                str(_log_file(state_dir).resolve()),
                "--options",
                options,
                "--wait",
                "--timeout",
                str(max(1, int(timeout))),
            ],
            timeout=timeout + 10,
        )

    run_sync(_ensure_role_and_database(socket_dir, port, user, password, database))
    dsn = dsn_for(port, user, password, database)
    deadline = time.monotonic() + timeout
    while not is_ready(dsn, 5):
        if time.monotonic() > deadline:
            log = _log_file(state_dir)
            raise PostgresServerError(
                f"PostgreSQL not accepting {user}@127.0.0.1:{port} after {timeout:.0f}s; "
                f"see {log}:\n{log_tail(log)}"
            )
        time.sleep(0.5)
    logger.info("PostgreSQL ready at 127.0.0.1:%d (pid %s)", port, _postmaster_pid(state_dir))
    return dsn


def down(state_dir: Path, timeout: float = 30) -> None:
    """Stop the server (fast shutdown); a no-op when it is not running."""
    if not (_data_dir(state_dir) / "PG_VERSION").is_file():
        return
    bin_dir = _bin_dir()
    if not _is_running(state_dir, bin_dir):
        return
    logger.info("Stopping PostgreSQL (pid %s)", _postmaster_pid(state_dir))
    data = str(_data_dir(state_dir).resolve())
    pg_ctl = str(bin_dir / "pg_ctl")
    wait = ["--wait", "--timeout", str(max(1, int(timeout)))]
    result = _run(state_dir, [pg_ctl, "stop", "--pgdata", data, "-m", "fast", *wait], check=False)
    if result.returncode != 0 and _is_running(state_dir, bin_dir):
        # Fast shutdown waits for a checkpoint; immediate skips it (crash recovery next start).
        logger.warning("PostgreSQL did not stop in %.0fs, stopping it immediately", timeout)
        _run(state_dir, [pg_ctl, "stop", "--pgdata", data, "-m", "immediate", *wait])
