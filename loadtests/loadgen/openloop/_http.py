"""The wire format: one POST request built once, one HTTP/1.1 response parsed from a buffer."""

from __future__ import annotations


def build_request(host: str, port: int, body: bytes, path: str = "/predict") -> bytes:
    """Return POST path with a JSON body as raw HTTP/1.1 (one write)."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def parse_response(buf: bytes) -> tuple[int, int, bytes, bool] | None:
    """Parse one HTTP/1.1 response from the start of buf.

    Return (bytes used, status, body, keep-alive), None if more bytes are needed, or
    (-1, status, b"", False) when the body runs to the end of the connection.
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].lower()
    status = int(head[9:12])
    keep = not head.startswith(b"http/1.0")
    i = head.find(b"\r\nconnection:")
    if i >= 0:
        j = head.find(b"\r\n", i + 2)
        value = head[i + 13 : j if j >= 0 else len(head)]
        keep = b"keep-alive" in value if not keep else b"close" not in value
    start = end + 4
    i = head.find(b"\r\ncontent-length:")
    if i >= 0:
        j = head.find(b"\r\n", i + 2)
        total = start + int(head[i + 17 : j if j >= 0 else len(head)])
        if len(buf) < total:
            return None
        return total, status, buf[start:total], keep
    if b"\r\ntransfer-encoding:" in head and b"chunked" in head:
        body, pos = b"", start
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(buf[pos:eol].split(b";")[0], 16)
            if size == 0:
                trailer_end = buf.find(b"\r\n\r\n", eol)
                if buf[eol : eol + 4] == b"\r\n\r\n":
                    return eol + 4, status, body, keep
                if trailer_end < 0:
                    return None
                return trailer_end + 4, status, body, keep
            if len(buf) < eol + 2 + size + 2:
                return None
            body += buf[eol + 2 : eol + 2 + size]
            pos = eol + 2 + size + 2
    if status in (204, 304) or 100 <= status < 200:
        return start, status, b"", keep
    return -1, status, b"", False
