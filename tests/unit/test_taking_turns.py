"""Under gevent each request first lets the worker's connections that are ready go first."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Run apart: gevent's patching must not reach the test process.
SCRIPT = textwrap.dedent(
    """
    from gevent import monkey

    monkey.patch_all()
    import socket

    import gevent

    from helpdesk.server import taking_turns

    order = []
    mine, theirs = socket.socketpair()


    def other_connection():
        theirs.recv(1)
        order.append("the other connection")


    gevent.spawn(other_connection)
    gevent.sleep(0.01)  # it now waits on its socket
    mine.send(b"x")  # and its request has come: only a poll of the sockets can tell
    app = taking_turns(lambda environ, start_response: order.append("this request"))
    app({}, None)
    print(order)
    """
)


def test_a_request_lets_a_ready_connection_go_first() -> None:
    """sleep(0) would resume this request before the loop polled the sockets."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "['the other connection', 'this request']"


def test_without_gevent_the_app_is_left_as_it_is() -> None:
    from helpdesk.server import taking_turns

    def app(environ: dict, start_response: object) -> list[bytes]:
        return [b"ok"]

    assert taking_turns(app) is app
