"""`overworld serve --workers N`: one machine's cores as N nodes of a cluster.

The supervisor (the process the operator started) runs N worker processes, each an ordinary
`overworld serve` with its own node identity (`<node_name or host name>-<i>`). Each worker binds the
listening address itself with SO_REUSEPORT, so the kernel spreads new connections over them; they
share state exactly as separate machines do, through PostgreSQL and Redis, which is why a cluster's
settings are required.

Signals: SIGTERM and SIGINT are forwarded (as SIGTERM) to every worker, which drains as a single
node does; a second one is forwarded as SIGINT, which makes the workers stop at once. The workers run in
their own process group, so a Ctrl-C in a terminal reaches them once, through the supervisor.

A worker that exits while nobody asked it to (a crash, an out-of-memory kill, a failed start) is
not restarted: the supervisor stops the others and exits with status 1, so the process manager
(systemd, Docker, Kubernetes) sees the failure and restarts the whole set with its own backoff.
Each worker also stops by itself if the supervisor disappears.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess  # nosec B404 # the workers: our own command, no shell
import sys
import time
from collections.abc import Sequence
from types import FrameType

from overworld.config import Settings

# After the stop signal, how long beyond `shutdown_grace_sec` a worker gets before SIGKILL.
KILL_AFTER_GRACE_SEC = 15.0


def cores() -> int:
    """The cores this process may run on (its CPU affinity), not all the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def worker_count(settings: Settings) -> int:
    return cores() if settings.workers == "auto" else settings.workers


def refusal(settings: Settings, count: int) -> str | None:
    """Why `count` workers cannot run with these settings (one line), or None."""
    if count <= 1:
        return None
    missing = []
    if not settings.is_postgres:
        missing.append("PostgreSQL (database_url = postgresql://...)")
    if not settings.cluster:
        missing.append("Redis (redis_url = redis://...)")
    if not missing:
        return None
    return (
        f"--workers {count} runs {count} nodes of a cluster, which needs {' and '.join(missing)};"
        " without them run one worker"
    )


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) that other workers can bind as well (SO_REUSEPORT). It is not
    listening yet: the server listens once the node has started, so until then the kernel gives
    new connections to the workers that are ready, and it stops listening first when it drains."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.set_inheritable(False)
    except BaseException:
        sock.close()
        raise
    return sock


def worker_name(settings: Settings, index: int) -> str:
    return f"{settings.node_name or socket.gethostname()}-{index}"


class Supervisor:
    """Starts the workers, forwards stop signals, and stops everything when one of them fails."""

    def __init__(self, commands: Sequence[Sequence[str]], grace_sec: float) -> None:
        self.commands = commands
        self.grace_sec = grace_sec
        self.workers: list[subprocess.Popen[bytes]] = []
        self.stop_requested = False
        self.stop_sent_at: float | None = None
        self.failed = False

    def _log(self, message: str) -> None:
        print(f"overworld supervisor: {message}", file=sys.stderr, flush=True)

    def _signal(self, signum: int, frame: FrameType | None) -> None:
        again = self.stop_requested
        self.stop_requested = True
        # A second signal: SIGINT, which a draining uvicorn takes as "stop at once".
        self._stop_all(signal.SIGINT if again else signal.SIGTERM)

    def _stop_all(self, signum: int = signal.SIGTERM) -> None:
        if self.stop_sent_at is None:
            self.stop_sent_at = time.monotonic()
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signum)

    def run(self) -> int:
        previous = {s: signal.signal(s, self._signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            for command in self.commands:
                # Own process group: a terminal's Ctrl-C reaches the workers once, through _signal.
                self.workers.append(subprocess.Popen(command, start_new_session=True))  # noqa: S603  # nosec B603 # our own interpreter and arguments, no shell
                if self.stop_requested:
                    self._stop_all()
            self._log(f"{len(self.workers)} workers: pids {' '.join(str(p.pid) for p in self.workers)}")
            return self._watch()
        finally:
            for proc in self.workers:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _watch(self) -> int:
        running = dict(enumerate(self.workers))
        while running:
            for index, proc in list(running.items()):
                code = proc.poll()
                if code is None:
                    continue
                del running[index]
                if self.stop_requested and code in (0, -signal.SIGTERM):
                    continue  # uvicorn re-raises the SIGTERM it handled once it has drained
                stopping = self.stop_requested or self.failed
                self.failed = True
                how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
                if stopping:
                    self._log(f"worker {index} (pid {proc.pid}) {how} while stopping")
                else:
                    self._log(f"worker {index} (pid {proc.pid}) {how}; stopping the others")
                    self._stop_all()
            if (
                self.stop_sent_at is not None
                and time.monotonic() - self.stop_sent_at > self.grace_sec + KILL_AFTER_GRACE_SEC
            ):
                for index, proc in running.items():
                    self._log(f"worker {index} (pid {proc.pid}) did not stop in time: killed")
                    proc.kill()
                    proc.wait()
                self.failed = True
                break
            time.sleep(0.05)
        return 1 if self.failed else 0
