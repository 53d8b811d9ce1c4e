"""A loopback TCP proxy that can lose answers: the request reaches the server, which acts on
it, and then the connection breaks before the answer gets back, as a network can."""

import socket
import threading


class LosingProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<upstream>; the first `lose` answers are read
    from the server and dropped, both connections closed instead of relaying them."""

    def __init__(self, upstream: int, lose: int = 0):
        self.upstream, self.lose, self.lost = upstream, lose, 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def __enter__(self) -> "LosingProxy":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            server = socket.create_connection(("127.0.0.1", self.upstream), timeout=30)
            threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()
            threading.Thread(target=self._answers, args=(server, client), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _drop(sink)

    def _answers(self, server: socket.socket, client: socket.socket) -> None:
        try:
            while data := server.recv(65536):
                with self._lock:
                    losing = self.lost < self.lose
                    self.lost += losing
                if losing:  # the server has answered, so it has acted: break the line
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            _drop(client)
            _drop(server)


def _drop(sock: socket.socket) -> None:
    """Shut down first: a close alone does not wake another thread's recv on it."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
