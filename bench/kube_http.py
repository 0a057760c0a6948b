"""A plain Kubernetes API client for the benchmark: HTTPS keep-alive connections with no rate limit, JSON
bodies, and watch streams. Only what the benchmark's floor and its observers need; never used by the product.
"""
import base64
import http.client
import json
import re
import ssl
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlparse


class ApiError(Exception):
    def __init__(self, method, path, status, body):
        super().__init__(f"{method} {path} answered {status}: {body[:300]}")
        self.status = status


def _kubeconfig_values(path):
    # The harness writes block-style kubeconfigs with one cluster and one user (cluster_kubeconfig.py).
    values = {}
    for line in Path(path).read_text().splitlines():
        match = re.match(r"^\s+(server|certificate-authority-data|client-certificate-data|client-key-data|token):"
                         r"\s*(\S+)$", line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


class Credentials:
    """Where and how to reach the API server: from a kubeconfig the harness wrote (certificate or token)."""

    def __init__(self, kubeconfig, workdir):
        values = _kubeconfig_values(kubeconfig)
        url = urlparse(values["server"])
        self.host, self.port = url.hostname, url.port
        self.context = ssl.create_default_context()
        self.context.check_hostname = False  # the serving certificate names 127.0.0.1, which is what we dial
        ca = Path(workdir) / "ca.crt"
        ca.write_bytes(base64.b64decode(values["certificate-authority-data"]))
        self.context.load_verify_locations(str(ca))
        self.token = values.get("token")
        if "client-certificate-data" in values:
            with tempfile.TemporaryDirectory(dir=workdir) as keys:
                cert, key = Path(keys) / "tls.crt", Path(keys) / "tls.key"
                cert.write_bytes(base64.b64decode(values["client-certificate-data"]))
                key.write_bytes(base64.b64decode(values["client-key-data"]))
                self.context.load_cert_chain(str(cert), str(key))

    def connect(self, timeout):
        return http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=timeout)

    def headers(self):
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers


class Client:
    """One keep-alive connection; request() reconnects once when the server closed it."""

    def __init__(self, credentials, timeout=60.0):
        self._credentials = credentials
        self._timeout = timeout
        self._connection = None

    def request(self, method, path, body=None, query=None):
        if query:
            path = f"{path}?{urlencode(query)}"
        data = None if body is None else json.dumps(body).encode()
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = self._credentials.connect(self._timeout)
            try:
                self._connection.request(method, path, body=data, headers=self._credentials.headers())
                response = self._connection.getresponse()
                text = response.read().decode()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
                continue
            if response.status >= 300:
                raise ApiError(method, path, response.status, text)
            return json.loads(text) if text else None

    def text(self, path):
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = self._credentials.connect(self._timeout)
            try:
                self._connection.request("GET", path, headers={**self._credentials.headers(), "Accept": "text/plain"})
                response = self._connection.getresponse()
                text = response.read().decode()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()  # the server closed the idle keep-alive connection: once more on a new one
                if attempt == 2:
                    raise
                continue
            if response.status != 200:
                raise ApiError("GET", path, response.status, text)
            return text

    def close(self):
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class Watch(threading.Thread):
    """Watches a collection from resource_version and calls on_event(type, object, monotonic time) for each
    event until on_event returns True (done) or stop() is called. error holds what ended it abnormally."""

    def __init__(self, credentials, path, query, resource_version, on_event, timeout_seconds=1800):
        super().__init__(daemon=True)
        self._credentials = credentials
        self._base = path
        self._query = {**query, "watch": "1", "allowWatchBookmarks": "false", "timeoutSeconds": str(timeout_seconds)}
        self._resource_version = resource_version
        self._path = self._path_from(resource_version)
        self._on_event = on_event
        self._connection = None
        self._stopping = False
        self.done = threading.Event()
        self.error = None

    # The API server ends a watch whose reader falls behind (a loaded machine), or at its timeout; the watch
    # then goes on from the last resourceVersion it saw, as an informer does, this many times at most.
    MAX_RESUMES = 20

    def _path_from(self, resource_version):
        return f"{self._base}?" + urlencode({**self._query, "resourceVersion": resource_version})

    def _watch_once(self):
        """One watch request; True when on_event said done, False when the stream ended first."""
        self._connection = self._credentials.connect(timeout=None)
        self._connection.request("GET", self._path, headers=self._credentials.headers())
        response = self._connection.getresponse()
        if response.status != 200:
            raise ApiError("GET", self._path, response.status, response.read().decode())
        for line in response:
            now = time.monotonic()
            event = json.loads(line)
            if event["type"] == "ERROR":
                raise ApiError("WATCH", self._path, event["object"].get("code"), json.dumps(event["object"]))
            self._resource_version = event["object"].get("metadata", {}).get("resourceVersion",
                                                                              self._resource_version)
            if self._on_event(event["type"], event["object"], now):
                return True
        return False

    def run(self):
        try:
            for _ in range(self.MAX_RESUMES + 1):
                if self._watch_once() or self._stopping:
                    return
                self._connection.close()
                self._path = self._path_from(self._resource_version)
            self.error = f"watch {self._path} ended {self.MAX_RESUMES + 1} times before the condition held"
        except Exception as error:  # reported by the caller, which waits on done
            if not self._stopping:
                self.error = f"watch {self._path}: {error}"
        finally:
            self.done.set()
            self.stop()

    def stop(self):
        self._stopping = True
        if self._connection is not None:
            try:
                self._connection.sock and self._connection.sock.shutdown(2)
            except OSError:
                pass
            self._connection.close()
