"""Kubeconfig files in the block-style YAML kubectl and kind write, with certificates embedded as data."""
import base64
import re
from pathlib import Path

CONTEXT = "jarvis-test"
_PLAIN_SCALAR = re.compile(r"^[A-Za-z0-9+/=:._@-]+$")


def _data(path):
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _scalar(value):
    # Every value written is a name, URL, token or base64 text; refusing anything else keeps the file
    # readable by the simplest YAML reader without quoting rules.
    if not _PLAIN_SCALAR.match(value):
        raise ValueError(f"kubeconfig value {value!r} needs quoting")
    return value


def write_kubeconfig(path, server, ca_cert, user_name, client_cert=None, client_key=None, token=None):
    """Writes a kubeconfig with one cluster, one user and one current context. The user authenticates with
    the client certificate and key, or with the bearer token."""
    if (token is None) == (client_cert is None):
        raise ValueError("a kubeconfig user needs either a client certificate or a token")
    if token is None:
        credentials = [f"    client-certificate-data: {_data(client_cert)}",
                       f"    client-key-data: {_data(client_key)}"]
    else:
        credentials = [f"    token: {_scalar(token)}"]
    lines = [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        f"- name: {CONTEXT}",
        "  cluster:",
        f"    server: {_scalar(server)}",
        f"    certificate-authority-data: {_data(ca_cert)}",
        "users:",
        f"- name: {_scalar(user_name)}",
        "  user:",
        *credentials,
        "contexts:",
        f"- name: {CONTEXT}",
        "  context:",
        f"    cluster: {CONTEXT}",
        f"    user: {_scalar(user_name)}",
        f"current-context: {CONTEXT}",
    ]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path
