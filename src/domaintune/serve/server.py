"""Bind the socket and run the app with uvicorn: `open_server` takes the port (a port in use fails
with one line before the model loads, and the port 0 gave is known) and loads the model, then
`Server.run` serves until Ctrl+C."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from domaintune.config import ServeConfig
from domaintune.errors import UserError

if TYPE_CHECKING:
    from domaintune.serve.workers import Workers


@dataclass
class Server:
    name: str
    backend: str
    labels: list[str]
    url: str
    server: uvicorn.Server
    sock: socket.socket
    workers: Workers

    def run(self) -> None:
        """Serve until Ctrl+C, then stop the model's processes (the app may start and stop
        several times in one process, as tests do: its processes live as long as the app)."""
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.workers.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (IPv4 or IPv6, whichever the host is)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as error:
        raise UserError(f"--host {host}: not an address of this machine ({error})") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as error:
        sock.close()
        raise UserError(
            f"cannot listen on {host}:{port} ({error.strerror}): give another --port"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def open_server(path: Path, *, serve: ServeConfig, backend: str = "auto") -> Server:
    """Take the port first (a port in use fails at once, not after the model loaded), then load
    the model; `Server.run` serves."""
    sock = bind(serve.host, serve.port)
    try:
        from domaintune.serve.app import create_app  # imports the model's libraries: seconds

        app = create_app(path, serve=serve, backend=backend)
    except BaseException:
        sock.close()
        raise
    config = uvicorn.Config(
        app,
        log_level="info",
        access_log=serve.access_log,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    metadata = app.state.metadata
    return Server(
        name=metadata.name,
        backend=metadata.backend,
        labels=metadata.labels,
        url=url(sock),
        server=uvicorn.Server(config),
        sock=sock,
        workers=app.state.workers,
    )
