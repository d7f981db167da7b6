"""What the HTTP benchmarks share: apps in child processes, served by uvicorn on loopback.

Each app under test runs in a process of its own (``spawn``), so its CPU and memory are its
own, and talks to the load generator through a pipe: its first message says where it
listens, ``("stop",)`` asks it to stop, and its answer to that is what :meth:`Child.stop`
returns.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

__all__ = ["START_TIMEOUT_S", "Child", "serve_on_loopback", "spawn"]

START_TIMEOUT_S = 30.0


@dataclass
class Child:
    name: str
    process: BaseProcess
    conn: Connection

    def stop(self) -> Any:
        """Ask the child to stop (its answer, if any, is returned); end it if it won't."""
        answer: Any = None
        if self.process.is_alive():
            try:
                self.conn.send(("stop",))
                if self.conn.poll(15):
                    answer = self.conn.recv()
            except (BrokenPipeError, EOFError, OSError):
                pass
        self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        return answer


def spawn(name: str, target: Any, *args: Any) -> tuple[Child, Any]:
    """Start ``target(*args, conn)`` in a new process; returns it and its first message."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(*args, theirs), name=f"bench-{name}")
    process.start()
    child = Child(name, process, ours)
    if not ours.poll(START_TIMEOUT_S):
        child.stop()
        raise RuntimeError(f"{name} did not start within {START_TIMEOUT_S:.0f} s")
    return child, ours.recv()


async def serve_on_loopback(app: Any, *, keep_alive_s: int) -> tuple[Any, asyncio.Task[None], int]:
    """Serve ``app`` with uvicorn on a free 127.0.0.1 port, without its logs or lifespan;
    returns the server (set ``should_exit`` to stop it), its task and the port, once it
    accepts connections."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            backlog=4096,
            timeout_keep_alive=keep_alive_s,
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.01)
    return server, serving, int(sock.getsockname()[1])
