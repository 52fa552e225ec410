"""moto_server, handling one request at a time.

moto's DynamoDB TransactWriteItems deep-copies the table state without a lock, so under the
threaded server two concurrent transactions can crash each other ("RuntimeError: dictionary
changed size during iteration") and stall the rest. Connections are still accepted on threads;
only moto's own work is serialized. Usage: python scripts/moto_server.py HOST PORT
"""

import os
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serialized(environ, start_response):
        with lock:
            return list(app(environ, start_response))

    run_simple(host, port, serialized, threaded=True)


if __name__ == "__main__":
    main()
