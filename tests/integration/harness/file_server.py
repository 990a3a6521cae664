"""Servers on loopback for tests that download (polyprov fetch-ca, fetch-crl).

Python's http.server in a thread of the test process, optionally over TLS,
with optional redirects, and a small forward proxy: real HTTP peers on
127.0.0.x for the real client under test.
"""

import contextlib
import functools
import http.server
import select
import socket
import socketserver
import ssl
import threading
import urllib.parse


class _Handler(http.server.SimpleHTTPRequestHandler):
    redirects = {}

    def do_GET(self):
        if self.path in self.redirects:
            self.send_response(301)
            self.send_header("Location", self.redirects[self.path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory, host="127.0.0.1", cert=None, key=None, redirects=None):
    """Yields the base URL ("http://127.0.0.1:PORT/") of `directory`; https with cert and key."""
    handler = type("Handler", (_Handler,), {"redirects": dict(redirects or {})})
    server = http.server.ThreadingHTTPServer((host, 0), functools.partial(handler, directory=str(directory)))
    scheme = "http"
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://{host}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _OriginHandler(_Handler):
    """A forward proxy's view of plain http: every absolute-form request, for any host, is
    answered from the directory by its path, so real URLs (Poly's CRL distribution points)
    are served locally and never reach the host they name."""
    seen = None

    def do_GET(self):
        self.seen.append(self.path)
        if "://" in self.path:
            self.path = urllib.parse.urlsplit(self.path).path
        super().do_GET()


@contextlib.contextmanager
def origin_proxy(directory):
    """Yields (proxy URL for http_proxy, list of the URLs requested through it)."""
    seen = []
    handler = type("Handler", (_OriginHandler,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _ProxyHandler(socketserver.StreamRequestHandler):
    """A forward proxy for loopback targets: CONNECT tunnels (https) and absolute-form GETs (http)."""

    def handle(self):
        request_line = self.rfile.readline().decode("latin-1")
        headers = []
        while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
            headers.append(line)
        method, target, _ = request_line.split(" ", 2)
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            self.server.seen.append(f"CONNECT {target}")
        else:
            parts = urllib.parse.urlsplit(target)
            host, port = parts.hostname, parts.port or 80
            self.server.seen.append(f"{method} {target}")
        if not host.startswith("127.") and host != "localhost":
            self.wfile.write(b"HTTP/1.0 403 Forbidden\r\n\r\n")
            return
        upstream = socket.create_connection((host, int(port)), timeout=10)
        with upstream:
            if method == "CONNECT":
                self.wfile.write(b"HTTP/1.0 200 Connection established\r\n\r\n")
            else:
                path = urllib.parse.urlsplit(target)._replace(scheme="", netloc="").geturl() or "/"
                upstream.sendall(f"{method} {path} HTTP/1.0\r\n".encode() + b"".join(headers) + b"\r\n")
            self.wfile.flush()
            _pipe(self.connection, upstream)


def _pipe(a, b):
    sockets = [a, b]
    while True:
        ready, _, _ = select.select(sockets, [], [], 10)
        if not ready:
            return
        for s in ready:
            data = s.recv(65536)
            if not data:
                return
            (b if s is a else a).sendall(data)


@contextlib.contextmanager
def proxy():
    """Yields (proxy URL, list of the requests it forwarded)."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _ProxyHandler)
    server.daemon_threads = True
    server.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
