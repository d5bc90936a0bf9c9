"""A small threaded HTTP/1.1 WSGI server with keep-alive, for the sandbox's services.

werkzeug's development server answers every request with ``Connection: close``:
each request then pays a new TCP (and TLS) handshake, a long benchmark leaves
tens of thousands of sockets in TIME_WAIT, and the sandbox would measure
handshakes instead of the connector. Jira, GitHub and Google keep connections
alive and their clients (requests/urllib3 pools, httplib2) are built for it, so
the sandbox does too: one thread per connection, requests served in turn on it
until the client closes it or it sits idle for ``IDLE_SECONDS``.

TLS is negotiated in the connection's own thread, so a client that refuses the
sandbox's certificate (it does not trust the throwaway CA) fails its handshake
without holding up anyone else. A body that raises
``pmsync.sandbox.faults.ResetConnection`` part-way makes the server reset the
connection (TCP RST), which is how the ``reset`` fault reaches the client.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import logging
import socket
import socketserver
import ssl
import struct
import threading
from collections.abc import Callable, Iterable
from typing import IO, Any, cast
from urllib.parse import unquote_to_bytes

from werkzeug.serving import DechunkedInput
from werkzeug.wsgi import LimitedStream

from pmsync.sandbox.faults import ResetConnection

log = logging.getLogger("pmsync.sandbox")

IDLE_SECONDS = 30.0
"""How long a kept-alive connection may wait for its next request."""
HANDSHAKE_SECONDS = 10.0
_NO_BODY = (204, 304)
_DROPPED = (ConnectionError, TimeoutError, ssl.SSLError, BrokenPipeError)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SandboxHTTPServer(socketserver.ThreadingTCPServer):
    """Serve one WSGI app on 127.0.0.1 with HTTP/1.1 keep-alive and optional TLS."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, app: WSGIApp, port: int, ssl_context: ssl.SSLContext | None) -> None:
        self.app = app
        self.ssl_context = ssl_context
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def port(self) -> int:
        """Return the port actually bound (useful with port 0)."""
        return int(self.server_address[1])

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Negotiate TLS if configured, then serve the connection's requests."""
        connection = request
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            request.settimeout(HANDSHAKE_SECONDS)
            try:
                connection = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return  # e.g. a client that does not trust the sandbox's CA
        with self._open_lock:
            self._open.add(connection)
        try:
            _Handler(connection, client_address, self)
        except _DROPPED:
            pass
        finally:
            with self._open_lock:
                self._open.discard(connection)
            if connection is not request:
                _close(connection)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log an unexpected server error once, without the socketserver banner."""
        log.exception("sandbox: error while serving %s", client_address)

    def server_close(self) -> None:
        """Stop listening and end the connections still open."""
        super().server_close()
        with self._open_lock:
            still_open = list(self._open)
        for connection in still_open:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


def _close(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.close()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Parses requests (http.server) and runs them through the WSGI app."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS
    server: SandboxHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the sandbox counts requests in ``/_sandbox/stats`` instead."""

    def _environ(self, body: Any) -> dict[str, Any]:
        path, _, query = self.path.partition("?")
        if path.startswith(("http://", "https://")):  # absolute-form request target
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        environ: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if self.server.ssl_context else "http",
            "wsgi.input": body,
            "wsgi.errors": _LogStream(),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "werkzeug.socket": self.connection,
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query,
            "REQUEST_URI": self.path,
            "RAW_URI": self.path,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": self.client_address[1],
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self.server.port),
            "SERVER_PROTOCOL": self.request_version,
        }
        for key, value in self.headers.items():
            name = key.upper().replace("-", "_")
            if "_" in key:
                continue  # as werkzeug: never let Foo_Bar pose as Foo-Bar
            if name not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                name = "HTTP_" + name
                if name in environ:
                    value = f"{environ[name]},{value}"
            environ[name] = value
        return environ

    def _run(self) -> None:
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_error(400, "Bad Content-Length")
            return
        stream = cast(IO[bytes], self.rfile)
        body: Any = DechunkedInput(stream) if chunked else LimitedStream(stream, length)
        if chunked:
            self.close_connection = True  # simpler than resynchronising after a chunked body
        environ = self._environ(body)
        if chunked:
            environ["wsgi.input_terminated"] = True  # read to the end, not Content-Length
        answer: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Any:
            answer["status"], answer["headers"] = status, headers
            return lambda data: answer.setdefault("written", []).append(data)

        sent = False
        try:
            result = self.server.app(environ, start_response)
            try:
                sent = self._send(result, answer, environ)
            finally:
                close = getattr(result, "close", None)
                if callable(close):
                    close()
        except ResetConnection:
            self._reset()
            return
        except _DROPPED:
            self.close_connection = True
            return
        except Exception:
            log.exception("sandbox: error in %s %s", self.command, self.path)
            self.close_connection = True
            if not sent:
                self._write_head("500 Internal Server Error", [], 0)
            return
        if not chunked:
            body.exhaust()  # keep the connection in step: never read a body as a request

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _run

    def _send(self, result: Iterable[bytes], answer: dict[str, Any], environ: Any) -> bool:
        iterator = iter(result)
        status: str = answer["status"]
        headers: list[tuple[str, str]] = answer["headers"]
        declared = any(k.lower() == "content-length" for k, _ in headers)
        code = int(status.split(" ", 1)[0])
        if not declared:  # collect the body to give its length
            body = b"".join([*answer.get("written", []), *iterator])
            no_body = code in _NO_BODY or self.command == "HEAD"
            if not no_body:
                headers = [*headers, ("Content-Length", str(len(body)))]
            self._write_head(status, headers, None, b"" if no_body else body)
            return True
        head_sent = False
        for chunk in iterator:
            if not head_sent:
                self._write_head(status, headers, None, chunk)
                head_sent = True
            elif chunk:
                self.wfile.write(chunk)
        if not head_sent:
            self._write_head(status, headers, None)
        return True

    def _write_head(
        self,
        status: str,
        headers: list[tuple[str, str]],
        length: int | None,
        first: bytes = b"",
    ) -> None:
        lines = [f"{self.protocol_version} {status}", f"Date: {self.date_time_string()}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if length is not None:
            lines.append(f"Content-Length: {length}")
        if self.close_connection:
            lines.append("Connection: close")
        elif self.request_version == "HTTP/1.0":
            lines.append("Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + first)

    def _reset(self) -> None:
        """Abort the connection with a TCP RST (``reset`` fault)."""
        self.close_connection = True
        connection = self.connection
        with contextlib.suppress(OSError):
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for stream in (self.rfile, self.wfile):
            with contextlib.suppress(OSError):
                stream.close()  # the socket really closes only when no file uses it
        _close(connection)
        # http.server still flushes and closes these after the request: let it.
        self.rfile, self.wfile = io.BytesIO(), io.BytesIO()


class _LogStream:
    """``wsgi.errors``: what an app writes there goes to the sandbox's logger."""

    def write(self, text: str) -> None:
        if text.strip():
            log.warning("%s", text.rstrip())

    def flush(self) -> None:
        return

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)
