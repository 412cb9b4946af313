"""Local single-node Apache Kafka (KRaft) broker for tests and CI, built from Maven jars."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from infra.kafka_secure import KafkaSecurityError, SecureProfile
from infra.local import log_tail, run_sync

logger = logging.getLogger(__name__)


_HERE = Path(__file__).resolve().parent
_POM = _HERE / "kafka" / "pom.xml"
_LOG4J2 = _HERE / "kafka" / "log4j2.xml"
# Written last by assemble(): a libs dir without it is a half-finished copy.
_COMPLETE_MARKER = ".assembled"
_MAIN_CLASS = "kafka.Kafka"


class KafkaBrokerError(RuntimeError):
    """The local broker could not be assembled, started or reached."""


def _kafka_dir(state_dir: Path) -> Path:
    return state_dir / "kafka"


def _pid_file(state_dir: Path) -> Path:
    return _kafka_dir(state_dir) / "kafka.pid"


def _log_file(state_dir: Path) -> Path:
    return _kafka_dir(state_dir) / "kafka.log"


def _props_file(state_dir: Path) -> Path:
    return _kafka_dir(state_dir) / "server.properties"


def _data_dir(state_dir: Path) -> Path:
    return _kafka_dir(state_dir) / "data"


def assemble(cache_dir: Path, version: str) -> Path:
    """Resolve the Kafka broker classpath with Maven once; return the directory of jars."""
    libs = cache_dir / f"kafka-{version}" / "libs"
    if (libs / _COMPLETE_MARKER).is_file():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaBrokerError("mvn not found on PATH (Debian: apt-get install -y maven)")
    libs.parent.mkdir(parents=True, exist_ok=True)
    # Copy into a scratch dir and rename, so an interrupted or concurrent run never
    # leaves a partial classpath behind the final name.
    scratch = Path(tempfile.mkdtemp(prefix="libs-", dir=libs.parent))
    cmd = [
        mvn, "-q", "-B", "-f", str(_POM), f"-Dkafka.version={version}",
        "dependency:copy-dependencies", f"-DoutputDirectory={scratch}", "-DincludeScope=runtime",
    ]  # fmt: skip
    logger.info("Resolving Kafka %s jars with Maven into %s", version, libs)
    started = time.monotonic()
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not any(scratch.glob("kafka_2.13-*.jar")):
        shutil.rmtree(scratch, ignore_errors=True)
        output = (result.stdout + result.stderr).strip()[-4000:]
        raise KafkaBrokerError(f"Maven could not resolve Kafka {version}:\n{output}")
    (scratch / _COMPLETE_MARKER).write_text(version + "\n")
    try:
        scratch.rename(libs)
    except OSError:
        # Another process won the race (or a stale incomplete dir is in the way).
        if (libs / _COMPLETE_MARKER).is_file():
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            shutil.rmtree(libs, ignore_errors=True)
            scratch.rename(libs)
    logger.info("Kafka %s jars resolved in %.1fs", version, time.monotonic() - started)
    return libs


async def _describe_cluster(
    bootstrap: str, request_timeout_ms: int, client: Mapping[str, Any]
) -> dict[str, Any]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=request_timeout_ms, **client
    )
    try:
        await admin.start()
        cluster: dict[str, Any] = await admin.describe_cluster()
        return cluster
    finally:
        await admin.close()


def _port_open(bootstrap: str, timeout: float) -> bool:
    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def _probe(
    bootstrap: str, timeout: float, client: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    # A plain TCP probe first: aiokafka logs an ERROR for every refused bootstrap,
    # which would flood the output while the JVM is still starting.
    if not _port_open(bootstrap, timeout):
        return None
    try:
        describe = _describe_cluster(bootstrap, max(1000, int(timeout * 1000)), client or {})
        cluster = run_sync(asyncio.wait_for(describe, timeout))
    except Exception as exc:  # any failure simply means "not ready yet"
        logger.debug("Kafka at %s not ready: %r", bootstrap, exc)
        return None
    # A KRaft broker only shows up in metadata once it is registered and unfenced.
    return cluster if cluster.get("brokers") else None


def is_ready(bootstrap: str, timeout: float) -> bool:
    """True when the broker answers a Kafka metadata request listing at least one broker."""
    return _probe(bootstrap, timeout) is not None


def _read_pid(state_dir: Path) -> int | None:
    try:
        return int(_pid_file(state_dir).read_text().strip())
    except (OSError, ValueError):
        return None


def _is_our_broker(pid: int, state_dir: Path) -> bool:
    # Reap it if it is our own exited child, else a zombie would look alive forever.
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rpartition(")")[2].split()[0] in ("Z", "X"):
        return False
    # The pid file may be stale and the pid reused by an unrelated process.
    props = str(_props_file(state_dir).resolve()).encode()
    return _MAIN_CLASS.encode() in cmdline and props in cmdline


def _running_pid(state_dir: Path) -> int | None:
    pid = _read_pid(state_dir)
    if pid is not None and _is_our_broker(pid, state_dir):
        return pid
    return None


def _configured_port(state_dir: Path) -> int | None:
    try:
        lines = _props_file(state_dir).read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("advertised.listeners="):
            return int(line.rpartition(":")[2])
    return None


def _properties(
    state_dir: Path, port: int, controller_port: int, secure: SecureProfile | None = None
) -> str:
    data = _data_dir(state_dir).resolve()
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        # Static quorum: survives restarts on other ports, unlike a dynamic
        # (--standalone) quorum that records the controller endpoint in the log.
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        # Topics come from `heterdaad topics create` with their partition counts; a metadata
        # request for an unknown name must not create it with num.partitions (issue 16).
        "auto.create.topics.enable": "false",
        # Internal topics default to RF 3 and would never be created on one node.
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Tests start consumer groups constantly; the 3s default delays every first join.
        "group.initial.rebalance.delay.ms": "0",
    }
    if secure is not None:
        settings.update(secure.properties(port, controller_port))
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise KafkaBrokerError(
            "java not found (Debian: apt-get install -y openjdk-17-jre-headless)"
        )
    return java


def _new_cluster_id() -> str:
    # Kafka's Uuid.randomUuid(): URL-safe base64 without padding, never starting
    # with '-' (the CLI would take it for an option).
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def _format_storage(
    state_dir: Path, libs: Path, java: str, secure: SecureProfile | None = None
) -> None:
    data = _data_dir(state_dir)
    if (data / "meta.properties").is_file():
        return
    data.mkdir(parents=True, exist_ok=True)
    cmd = [
        java, "-cp", f"{libs}/*", f"-Dlog4j2.configurationFile={_LOG4J2}",
        "kafka.tools.StorageTool", "format", "--ignore-formatted",
        "--cluster-id", _new_cluster_id(), "--config", str(_props_file(state_dir)),
        # SCRAM credentials go into the metadata log at format: the broker needs its own
        # before it can serve a request to create any.
        *(secure.scram_arguments() if secure is not None else []),
    ]  # fmt: skip
    logger.info("Formatting Kafka storage in %s", data)
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-4000:]
        raise KafkaBrokerError(f"kafka-storage format failed:\n{output}")


def _cluster_id(state_dir: Path) -> str | None:
    try:
        lines = (_data_dir(state_dir) / "meta.properties").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("cluster.id="):
            return line.partition("=")[2].strip()
    return None


def _serves_our_cluster(
    bootstrap: str, cluster_id: str | None, timeout: float, client: Mapping[str, Any]
) -> bool:
    # A different broker that happens to listen on the same port (another checkout,
    # an embedded test broker) must not pass for ours.
    cluster = _probe(bootstrap, timeout, client)
    return cluster is not None and cluster.get("cluster_id") == cluster_id


def _wait_ready(
    state_dir: Path,
    pid: int,
    alive: Callable[[], bool],
    bootstrap: str,
    timeout: float,
    client: Mapping[str, Any] | None = None,
) -> None:
    cluster_id = _cluster_id(state_dir)
    deadline = time.monotonic() + timeout
    log = _log_file(state_dir)
    while True:
        if not alive():
            raise KafkaBrokerError(
                f"Kafka broker (pid {pid}) exited during start-up; see {log}:\n{log_tail(log)}"
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise KafkaBrokerError(
                f"Kafka broker (pid {pid}) not ready at {bootstrap} after {timeout:.0f}s; "
                f"see {log}:\n{log_tail(log)}"
            )
        if _serves_our_cluster(
            bootstrap, cluster_id, min(5.0, max(remaining, 0.5)), client or {}
        ):
            return
        time.sleep(0.5)


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Bind like the JVM does (SO_REUSEADDR), so TIME_WAIT leftovers of the
        # previous run don't count as "in use", only a live listener does.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def up(
    state_dir: Path,
    cache_dir: Path,
    port: int,
    controller_port: int,
    version: str,
    timeout: float = 90,
    secure: SecureProfile | None = None,
) -> str:
    """Start the broker detached unless it already runs; return its bootstrap address.

    With `secure` (the production profile), its client listener is SASL_SSL with SCRAM
    principals and ACLs (infra/kafka_secure.py) instead of PLAINTEXT.
    """
    bootstrap = f"127.0.0.1:{port}"
    client = secure.client_options() if secure is not None else {}
    pid = _running_pid(state_dir)
    if pid is not None:
        configured = _configured_port(state_dir)
        if configured is not None and configured != port:
            raise KafkaBrokerError(
                f"Kafka in {state_dir} already runs on port {configured}, not {port}; "
                "run down first"
            )
        # Still starting (e.g. a parallel up) or already serving: both end here.
        _wait_ready(
            state_dir, pid, lambda: _is_our_broker(pid, state_dir), bootstrap, timeout, client
        )
        return bootstrap

    for wanted in (port, controller_port):
        # Fail fast and clearly instead of a broker dying on bind with a long log.
        if _port_in_use(wanted):
            raise KafkaBrokerError(f"port {wanted} on 127.0.0.1 is already in use")
    libs = assemble(cache_dir, version)
    java = _java()
    _kafka_dir(state_dir).mkdir(parents=True, exist_ok=True)
    _props_file(state_dir).write_text(_properties(state_dir, port, controller_port, secure))
    _props_file(state_dir).chmod(0o600)  # the admin's password is in it when secure
    _format_storage(state_dir, libs, java, secure)

    cmd = [
        java, "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={_LOG4J2}",
        "-cp", f"{libs}/*", _MAIN_CLASS, str(_props_file(state_dir).resolve()),
    ]  # fmt: skip
    log = _log_file(state_dir)
    with log.open("ab") as log_stream:
        # Own session: the broker must outlive this process (services.sh up, a
        # pytest session) and not receive the terminal's Ctrl-C.
        process = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log_stream,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=_kafka_dir(state_dir),
        )
    _pid_file(state_dir).write_text(f"{process.pid}\n")
    logger.info("Started Kafka %s (pid %d), logging to %s", version, process.pid, log)
    try:
        # poll(), not /proc: right after fork the child's cmdline is still python's.
        _wait_ready(
            state_dir, process.pid, lambda: process.poll() is None, bootstrap, timeout, client
        )
        if secure is not None:
            secure.create_acls(java, libs, bootstrap, _HERE / "kafka")
    except (KafkaBrokerError, KafkaSecurityError):
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        _pid_file(state_dir).unlink(missing_ok=True)
        raise
    logger.info("Kafka ready at %s", bootstrap)
    return bootstrap


def _wait_exited(pid: int, timeout: float) -> None:
    """Until every thread of the process is gone, so its ports are free for a restart.

    The JVM's main thread turns zombie ('Z', which `_is_our_broker` counts as stopped) while
    its other threads still hold the listening sockets for a moment.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            # Not our child: gone, or a zombie whose threads have all exited.
            try:
                threads = len(os.listdir(f"/proc/{pid}/task"))
                state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
            except OSError:
                return
            if threads <= 1 and state in ("Z", "X"):
                return
        time.sleep(0.05)
    raise KafkaBrokerError(f"Kafka (pid {pid}) still exiting after {timeout:.0f}s")


def kill(state_dir: Path, timeout: float = 30) -> None:
    """Stop the broker the hard way (SIGKILL, as a crash or power loss); a no-op when not
    running. Returns once its ports are free: `up` with the same state dir restarts it."""
    pid = _running_pid(state_dir)
    if pid is not None:
        logger.info("Killing Kafka (pid %d)", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait_exited(pid, timeout)
    _pid_file(state_dir).unlink(missing_ok=True)


def down(state_dir: Path, timeout: float = 30) -> None:
    """Stop the broker (SIGTERM, then SIGKILL after timeout); a no-op when not running."""
    pid = _running_pid(state_dir)
    if pid is not None:
        logger.info("Stopping Kafka (pid %d)", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _is_our_broker(pid, state_dir) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _is_our_broker(pid, state_dir):
            logger.warning("Kafka (pid %d) ignored SIGTERM for %.0fs, killing it", pid, timeout)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while _is_our_broker(pid, state_dir):
                time.sleep(0.1)
        _wait_exited(pid, timeout)
    _pid_file(state_dir).unlink(missing_ok=True)
