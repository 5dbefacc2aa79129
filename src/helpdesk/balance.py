"""Connections shared out evenly between the gevent serving processes.

Every worker listens on the one socket and whichever wakes first accepts, so eight keep-alive
clients often landed six on one process and two on the other, where they stayed: one process ran
flat out while the other idled. Here each process counts its open connections in memory shared
with the others, and stops accepting while it holds more than the process with the fewest.
"""

from __future__ import annotations

import ctypes
from multiprocessing.sharedctypes import RawArray
from typing import Any

import gevent
from gunicorn.workers import ggevent

SLOTS = 64  # more serving processes than one machine would run
REVIEW_SECONDS = 0.005  # how soon a process that stopped accepting looks again,
REVIEW_MAX_SECONDS = 0.1  # and then less often while nothing changes (an idle server)

# Made in the master when gunicorn imports this worker class, so every forked worker shares them.
open_connections = RawArray(ctypes.c_long, SLOTS)
live = RawArray(ctypes.c_byte, SLOTS)


def claim_slot(arbiter: Any, worker: Any) -> None:
    """gunicorn's pre_fork hook, in the master: give the new worker a free slot."""
    taken = {getattr(other, "balance_slot", None) for other in arbiter.WORKERS.values()}
    worker.balance_slot = next(slot for slot in range(SLOTS) if slot not in taken)
    open_connections[worker.balance_slot] = 0
    live[worker.balance_slot] = 1


def free_slot(_arbiter: Any, worker: Any) -> None:
    """gunicorn's child_exit hook, in the master: a dead worker holds nothing."""
    live[worker.balance_slot] = 0
    open_connections[worker.balance_slot] = 0


class Turns:
    """This process's side: count connections, accept only while no process has fewer."""

    def __init__(self, slot: int) -> None:
        self.slot = slot
        self.servers: list[Any] = []
        self.accepting = True
        self._review: Any = None
        self._pause = REVIEW_SECONDS

    def opened(self) -> None:
        """A connection came to this process."""
        open_connections[self.slot] += 1
        self.review()

    def closed(self) -> None:
        """One of this process's connections ended."""
        open_connections[self.slot] -= 1
        self.review()

    def review(self) -> None:
        """Accept while no live process holds fewer connections than this one."""
        mine = open_connections[self.slot]
        fewest = min(open_connections[s] for s in range(SLOTS) if live[s] or s == self.slot)
        if mine <= fewest:
            self._pause = REVIEW_SECONDS
            if not self.accepting:
                self.accepting = True
                for server in self.servers:
                    server.start_accepting()
            return
        if self.accepting:
            self.accepting = False
            for server in self.servers:
                server.stop_accepting()
        if self._review is None:
            self._review = gevent.spawn_later(self._pause, self._look_again)

    def _look_again(self) -> None:
        """The others' counts change without telling us: look again while not accepting."""
        self._review = None
        self._pause = min(self._pause * 2, REVIEW_MAX_SECONDS)
        self.review()


class BalancedGeventWorker(ggevent.GeventWorker):
    """gunicorn's gevent worker, taking its share of connections and no more."""

    def run(self) -> None:
        """Serve, with servers that report to this process's turns."""
        turns = self.turns = Turns(self.balance_slot)

        class Server(ggevent.StreamServer):
            def start_accepting(self) -> None:
                """Accept only when it is this process's turn."""
                if self not in turns.servers:
                    turns.servers.append(self)
                if turns.accepting:
                    super().start_accepting()

        ggevent.StreamServer = Server  # in this worker process only, before run() makes servers
        super().run()

    def handle(self, listener: Any, client: Any, address: Any) -> None:
        """Serve one connection, counted while it is open."""
        self.turns.opened()
        try:
            super().handle(listener, client, address)
        finally:
            self.turns.closed()
