"""A phone's HTTP client: one keep-alive TLS connection with its factory
certificate, speaking HEAD and PUT the way Polycom firmware does."""

import http.client
import socket
import ssl


class Phone:
    def __init__(self, port, device, server_ca, host="access.test"):
        self.ctx = ssl.create_default_context(cafile=server_ca)
        self.ctx.load_cert_chain(device["cert"], device["key"])
        self.port, self.host = port, host
        self.conn = None

    def _conn(self):
        if self.conn is None:
            self.conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=30)
        return self.conn

    def request(self, method, path, body=None, headers=None, chunked=False):
        """Returns (status, headers dict (lower-case), body bytes)."""
        headers = dict(headers or {})
        headers.setdefault("Host", self.host)
        for attempt in (0, 1):
            conn = self._conn()
            try:
                conn.request(method, path, body=body, headers=headers, encode_chunked=chunked)
                r = conn.getresponse()
                data = r.read()
                result = r.status, {k.lower(): v for k, v in r.getheaders()}, data
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return result
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt:
                    raise

    def head_size(self, path):
        status, headers, _ = self.request("HEAD", path)
        return int(headers["content-length"]) if status == 200 else None

    def put(self, path, body, start=None, total="*"):
        headers = {"Content-Type": "application/octet-stream"}
        if start is not None:
            headers["Content-Range"] = f"bytes {start}-{start + len(body) - 1}/{total}"
        return self.request("PUT", path, body=body, headers=headers)

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def put_and_hang_up(port, device, server_ca, path, declared, sent, host="access.test"):
    """Sends PUT headers announcing `declared` bytes, then `sent` bytes, then closes."""
    ctx = ssl.create_default_context(cafile=server_ca)
    ctx.load_cert_chain(device["cert"], device["key"])
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname=host)
    s.sendall(f"PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {declared}\r\n\r\n".encode() + sent)
    s.close()
