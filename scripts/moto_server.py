"""moto's server, handling one request at a time.

DynamoDB applies a conditional write atomically; moto's threaded server does not (two
concurrent UpdateItems can both pass their condition), which made tests that start runs at
once flaky under load. Serializing the application restores the atomicity the collector's
lease relies on; the server still accepts connections on threads.

It also counts the writes it applies, per bucket and per table, for the benchmarks (objects
and DynamoDB writes per run, whatever binary made them): `GET /_writes` answers
{"s3:<bucket>": {"PUT": n, "DELETE": n}, "dynamodb:<table>": {"UpdateItem": n, ...}}.

Usage: python scripts/moto_server.py HOST PORT (scripts/moto.sh starts it)."""
import io
import json
import os
import sys
import threading
from collections import defaultdict

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
    writes = defaultdict(lambda: defaultdict(int))

    def one_at_a_time(environ, start_response):
        if environ.get("PATH_INFO") == "/_writes":
            with lock:
                body = json.dumps(writes).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        with lock:
            count_write(environ, writes)
            # The body is produced under the lock too: the state it reads cannot change midway.
            return list(app(environ, start_response))

    run_simple(host, port, one_at_a_time, threaded=True, request_handler=MotoRequestHandler)


DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def count_write(environ, writes):
    """Counts S3 object PUTs and DELETEs by bucket (path-style keys) and DynamoDB item writes by
    table; leaves the request as it found it."""
    method = environ.get("REQUEST_METHOD", "")
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith("DynamoDB_"):
        operation = target.split(".", 1)[-1]
        if operation not in DYNAMODB_WRITES:
            return
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            table = json.loads(body or b"{}").get("TableName", "?")
        except ValueError:
            table = "?"
        writes[f"dynamodb:{table}"][operation] += 1
    elif "/s3/aws4_request" in environ.get("HTTP_AUTHORIZATION", ""):
        parts = environ.get("PATH_INFO", "").lstrip("/").split("/", 1)
        if method in ("PUT", "DELETE") and len(parts) == 2 and parts[1]:
            writes[f"s3:{parts[0]}"][method] += 1


if __name__ == "__main__":
    main()
