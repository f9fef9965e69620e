"""moto's server, handling one request at a time.

DynamoDB applies a conditional write atomically; moto's threaded server does not (two
concurrent UpdateItems can both pass their condition), which made tests that start runs at
once flaky under load. Serializing the application restores the atomicity the collector's
lease relies on; the server still accepts connections on threads.

Usage: python scripts/moto_server.py HOST PORT (scripts/moto.sh starts it)."""
import os
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def one_at_a_time(environ, start_response):
        with lock:
            # The body is produced under the lock too: the state it reads cannot change midway.
            return list(app(environ, start_response))

    run_simple(host, port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
