"""A TCP relay in front of a real server (Redis), which the test has cut the moment a client
sends a given command for the n-th time: the server gone in the middle of what a client was
doing, at a point the test chooses, with nothing mocked. Once cut, every connection through it
is closed and it takes no new one (a connection is refused, as by a server that is down)."""

from __future__ import annotations

import socket
import threading


class Relay:
    def __init__(self, target_host: str, target_port: int, *, cut_on: bytes, occurrence: int = 1):
        self.target = (target_host, target_port)
        self.cut_on, self.left = cut_on, occurrence
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.cut.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # cut: the listener is closed
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if from_client and self.cut_on in data:
                    with self._lock:
                        self.left -= data.count(self.cut_on)
                        if self.left <= 0:
                            self._cut()
                            return
                sink.sendall(data)
        except OSError:
            pass

    def _cut(self) -> None:
        self.cut.set()
        for sock in [self.listener, *self._sockets]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        with self._lock:
            self._cut()
