"""gunicorn's own answers to malformed HTTP, in the service's JSON shape.

A request line over gunicorn's limit, a broken header or an invalid method never reaches
Flask: gunicorn answers it itself, by default with an HTML page. gunicorn writes those pages
through `gunicorn.util.write_error`, so gunicorn.conf.py swaps that one function for this
one; status codes and reasons stay gunicorn's.
"""

import json
import socket

from gunicorn import util


def write_json_error(sock, status_int, reason, mesg):
    body = json.dumps({"detail": f"{reason}: {mesg}"}).encode()
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, head.encode("latin1") + body)
    _linger(sock)


def _linger(sock, most: int = 1 << 20, seconds: float = 1.0) -> None:
    """Read and drop what the client sent beyond the error, for a moment, before gunicorn
    closes: a close with unread bytes is a TCP reset, which can destroy the answer before the
    client reads it (gevent's workers stop reading a request sooner than sync ones)."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(seconds)
        while most > 0:
            chunk = sock.recv(65536)
            if not chunk:
                return
            most -= len(chunk)
    except OSError:
        pass  # gone, or quiet: nothing more to wait for


def install() -> None:
    util.write_error = write_json_error
