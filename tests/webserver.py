"""Test helper: one `python app.py` server per test session, on a free port, always killed at the end."""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
READY_TIMEOUT = 180  # seconds; model import dominates and is slow on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} not ready after {timeout}s")


@dataclass
class AppServer:
    url: str
    proc: subprocess.Popen
    started: float  # time.perf_counter() when `python app.py` was launched
    ready_after: float  # seconds until the page answered
    log: str = ""  # the file the server's stdout and stderr go to

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def start_app(extra_env: dict | None = None) -> AppServer:
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           **(extra_env or {})}
    started = time.perf_counter()
    log = tempfile.NamedTemporaryFile("w+", prefix="askknee-app-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py")], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = AppServer(f"http://127.0.0.1:{port}/", proc, started, 0.0, log.name)
    atexit.register(server.stop)
    try:
        wait_http(server.url, READY_TIMEOUT, proc)
    except BaseException as e:
        server.stop()
        raise RuntimeError(f"app.py did not start: {e}\n{Path(log.name).read_text()[-3000:]}") from e
    server.ready_after = time.perf_counter() - started
    return server


_shared: AppServer | None = None


def shared_app(config) -> AppServer:
    """The session's app server (started on first use, stopped when pytest finishes)."""
    global _shared
    if _shared is None or _shared.proc.poll() is not None:
        _shared = start_app()
        config.add_cleanup(_shared.stop)
    return _shared
