"""The floor a run is measured against: a plain client with no rate limit writing what a run of Jarvis must
write at the least, to the same API server in the same run. For each Command: its status twice (the nodes
recorded as dispatched, then their results), then one Event per node, the events over `connections` keep-alive
connections at once. The bodies are copies of what Jarvis itself wrote, so the sizes match."""
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from kube_http import Client

_EVENT_KEEP = ("reason", "message", "type", "source", "reportingComponent", "reportingInstance", "action",
               "firstTimestamp", "lastTimestamp", "count")


def event_copy(event, command):
    """An Event like `event` about `command` (a new name, the new involvedObject)."""
    body = {key: event[key] for key in _EVENT_KEEP if key in event}
    body.update({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{command['metadata']['name']}.{uuid.uuid4().hex[:16]}",
                     "namespace": command["metadata"]["namespace"]},
        "involvedObject": {"apiVersion": command["apiVersion"], "kind": command["kind"],
                           "name": command["metadata"]["name"], "namespace": command["metadata"]["namespace"],
                           "uid": command["metadata"]["uid"],
                           "resourceVersion": command["metadata"]["resourceVersion"]},
    })
    return body


class Floor:
    """Writes with up to `connections` connections of credentials (the controller's own, so the same
    authorization path is taken)."""

    def __init__(self, credentials, connections=32):
        self._credentials = credentials
        self._connections = connections
        self._local = threading.local()
        self._clients = []
        self._lock = threading.Lock()

    def _client(self):
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = Client(self._credentials)
            with self._lock:
                self._clients.append(client)
        return client

    def close(self):
        for client in self._clients:
            client.close()

    def run(self, targets):
        """targets: [(command object as created, status to write, [events to copy])]. Returns (seconds until
        every status holds its results, seconds until every event is written)."""
        started = time.monotonic()
        with ThreadPoolExecutor(self._connections) as pool:
            written = list(pool.map(lambda target: self._write_status(*target[:2]), targets))
            status_done = time.monotonic()
            bodies = [event_copy(event, command) for command, target in zip(written, targets) for event in target[2]]
            list(pool.map(self._post_event, bodies))
        return status_done - started, time.monotonic() - started

    def _write_status(self, command, status):
        client = self._client()
        path = (f"/apis/jarvis.io/v1/namespaces/{command['metadata']['namespace']}/commands/"
                f"{command['metadata']['name']}/status")
        for _ in range(2):  # dispatched, then the results: the same size, the least a run writes
            command = client.request("PUT", path, {**command, "status": {
                **status, "observedGeneration": command["metadata"]["generation"]}})
        return command

    def _post_event(self, body):
        self._client().request("POST", f"/api/v1/namespaces/{body['metadata']['namespace']}/events", body)
