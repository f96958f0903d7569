"""The Prometheus endpoint, on its own port: `/metrics` is not part of any API.

The API port faces callers (through the ingress); the metrics port (`metrics_port`, by default
the HTTP port + 1000) is scraped from inside the cluster only, and nothing publishes it. One
server per process, whatever number of apps the process runs (tests build several): the
registry is process-wide anyway. The first `acquire` starts it, the last `release` stops it.
"""

import logging
import threading
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server

log = logging.getLogger(__name__)


@dataclass
class _Running:
    host: str
    port: int
    server: WSGIServer
    thread: threading.Thread
    users: int = 1


_lock = threading.Lock()
_running: _Running | None = None


def acquire(host: str, port: int) -> int | None:
    """Serve /metrics on `host:port` (port 0: not at all) unless this process already does;
    returns the port it is served on, or None. Call `release` once for each answer that is a
    port (and only then). A port taken by another process is logged, not
    raised: the API keeps serving without its metrics rather than not at all."""
    global _running
    with _lock:
        if _running is not None:
            _running.users += 1
            if (_running.host, _running.port) != (host, port):
                log.warning("metrics already served on port %d in this process; not on %d", _running.port, port)
            return _running.port
        if not port:
            return None
        try:
            server, thread = start_http_server(port, addr=host)
        except OSError as exc:
            log.error("metrics not served: cannot listen on %s:%d (%s)", host, port, exc.strerror or type(exc).__name__)
            return None
        _running = _Running(host, port, server, thread)
        log.info("metrics on %s:%d/metrics", host, port)
        return port


def release() -> None:
    """One user fewer; the last one stops the server and waits for its thread (≤ 0.5 s)."""
    global _running
    with _lock:
        if _running is None:
            return
        _running.users -= 1
        if _running.users > 0:
            return
        running, _running = _running, None
    running.server.shutdown()
    running.server.server_close()
    running.thread.join(timeout=5)


def serving() -> int | None:
    """The port this process serves /metrics on, if any."""
    with _lock:
        return _running.port if _running is not None else None
