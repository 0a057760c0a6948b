"""Helpers of the security end-to-end tests: certificates made with the openssl command (an implementation
independent of the controller's), the Secrets the controller keeps, and what an agent serves on its port."""
import base64
import hashlib
import json
import re
import ssl
import subprocess
from pathlib import Path

from deadline import wait_until

NAMESPACE = "jarvis"


def openssl(*args, input=None):
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, input=input, timeout=60)
    assert result.returncode == 0, f"openssl {' '.join(map(str, args))} failed: {result.stderr}"
    return result.stdout


def fingerprint(pem):
    """SHA-256 of the DER of the first certificate in pem, lower-case hex (as the controller logs it)."""
    first = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.S).group(0)
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(first)).hexdigest()


class Pki:
    """Files for test clients under directory: CAs, and leaf certificates signed by them."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)

    def write(self, name, text):
        path = self.dir / name
        path.write_text(text)
        return path

    def certificate_authority(self, name, common_name="jarvis-ca"):
        """(cert path, key path) of a new self-signed CA."""
        cert, key = self.dir / f"{name}.crt", self.dir / f"{name}.key"
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                "-out", cert, "-days", "1", "-subj", f"/CN={common_name}",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        return cert, key

    def self_signed(self, name, identity):
        """(cert path, key path) of a self-signed certificate naming identity."""
        cert, key = self.dir / f"{name}.crt", self.dir / f"{name}.key"
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                "-out", cert, "-days", "1", "-subj", f"/CN={identity}",
                "-addext", f"subjectAltName=DNS:{identity}", "-addext", "extendedKeyUsage=clientAuth")
        return cert, key

    def issue(self, name, ca_cert, ca_key, identity, usage="clientAuth"):
        """(cert path, key path) of a certificate for identity signed by the given CA."""
        cert, key, csr = self.dir / f"{name}.crt", self.dir / f"{name}.key", self.dir / f"{name}.csr"
        extensions = self.write(f"{name}.ext", f"subjectAltName=DNS:{identity}\nextendedKeyUsage={usage}\n"
                                               "basicConstraints=critical,CA:FALSE\n"
                                               "keyUsage=critical,digitalSignature\n")
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                "-out", csr, "-subj", f"/CN={identity}")
        openssl("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial", "-days", "1",
                "-out", cert, "-extfile", extensions)
        return cert, key


def secret_data(cluster, name, namespace=NAMESPACE):
    """{key: text} of a Secret (read as the cluster admin), or None when it does not exist."""
    result = cluster.kubectl("get", "secret", name, "-n", namespace, "-o", "json", check=False)
    if result.returncode != 0:
        assert "NotFound" in result.stderr, result.stderr
        return None
    data = json.loads(result.stdout).get("data") or {}
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


def served_certificate(address, port):
    """The PEM certificate the TLS server at address:port presents (TLS 1.3 sends it before it asks for the
    client's), or None when no handshake got that far."""
    result = subprocess.run(["openssl", "s_client", "-connect", f"{address}:{port}", "-servername", "jarvis-agent",
                             "-showcerts"], capture_output=True, text=True, input="", timeout=30)
    match = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", result.stdout, re.S)
    return match.group(0) + "\n" if match else None


def wait_agents_serve(cluster, certificate_pem, timeout=60):
    """Waits until every agent presents certificate_pem (the agents' Secret reached their files and they
    re-read them)."""
    wanted = fingerprint(certificate_pem)

    def serving():
        for node in cluster.nodes:
            served = served_certificate(node.address, cluster.agent_port)
            if served is None or fingerprint(served) != wanted:
                return False
        return True
    wait_until(serving, timeout, f"every agent to serve certificate {wanted[:16]}", interval=0.5)


def wait_agent_secret(cluster, timeout=60, other_than=None):
    """The agents' Secret's data once it exists (and its certificate differs from other_than's)."""
    def ready():
        data = secret_data(cluster, "jarvis-agent-tls")
        if not data or "tls.crt" not in data:
            return None
        if other_than and fingerprint(data["tls.crt"]) == fingerprint(other_than):
            return None
        return data
    return wait_until(ready, timeout, "Secret jarvis/jarvis-agent-tls", interval=0.5)


def log_lines(path):
    """The JSON lines of a jarvis log (other lines skipped)."""
    lines = []
    for line in Path(path).read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines
