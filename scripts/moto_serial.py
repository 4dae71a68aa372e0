"""moto's DynamoDB server, one request at a time.

moto's server is threaded and its DynamoDB backend takes no lock: two conditional writes
to one item that arrive together can both pass their condition (two instances both
claiming a webhook item), and a reader can see an item half-written. Real DynamoDB
applies each conditional write atomically. Serializing the requests gives back that
guarantee, which the concurrency tests rely on; connections are still served by threads,
so an idle keep-alive connection blocks no one.

Same command line as `moto_server`.
"""

import sys
import threading

import moto.server as server

_lock = threading.Lock()


class SerialApplication(server.DomainDispatcherApplication):
    def __call__(self, environ, start_response):
        with _lock:
            # The whole response is produced under the lock.
            return list(super().__call__(environ, start_response))


server.DomainDispatcherApplication = SerialApplication

if __name__ == "__main__":
    server.main(sys.argv[1:])
