"""Certificates and keys of a test cluster, made with the openssl command-line tool (ECDSA P-256: fast)."""
import subprocess
from pathlib import Path

_DAYS = "3650"


def _openssl(*args, cwd):
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {result.stderr.strip()}")


def _new_key(path, cwd):
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(path), cwd=cwd)


def _subject(common_name, organizations):
    for part in (common_name, *organizations):
        if "/" in part or "=" in part or "\\" in part:
            raise ValueError(f"certificate subject part {part!r} may not contain '/', '=' or '\\'")
    return "/CN=" + common_name + "".join("/O=" + o for o in organizations)


class CertificateAuthority:
    """A CA whose key lives in directory; issues serving and client certificates into it."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.cert = self.directory / "ca.crt"
        self.key = self.directory / "ca.key"

    def create(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        _new_key(self.key, self.directory)
        _openssl("req", "-x509", "-new", "-key", str(self.key), "-out", str(self.cert), "-days", _DAYS,
                 "-subj", "/CN=jarvis-test-cluster-ca",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.directory)
        return self

    def issue(self, stem, common_name, organizations=(), server_names=()):
        """Writes stem.crt and stem.key; a certificate with server_names (IPs or DNS names) serves TLS, one
        without authenticates a client as common_name in the groups organizations. Returns (cert, key)."""
        cert = self.directory / f"{stem}.crt"
        key = self.directory / f"{stem}.key"
        cert.parent.mkdir(parents=True, exist_ok=True)
        _new_key(key, self.directory)
        extensions = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature"]
        if server_names:
            alt = ",".join(("IP:" if _is_ip(n) else "DNS:") + n for n in server_names)
            extensions += ["extendedKeyUsage=serverAuth", "subjectAltName=" + alt]
        else:
            extensions += ["extendedKeyUsage=clientAuth"]
        _openssl("req", "-new", "-x509", "-key", str(key), "-out", str(cert), "-days", _DAYS,
                 "-subj", _subject(common_name, organizations), "-CA", str(self.cert), "-CAkey", str(self.key),
                 *[arg for ext in extensions for arg in ("-addext", ext)], cwd=self.directory)
        return cert, key


def _is_ip(name):
    return all(part.isdigit() for part in name.split(".")) and name.count(".") == 3


def create_service_account_keys(directory):
    """The key pair kube-apiserver signs and verifies service-account tokens with. Returns (private, public)."""
    directory = Path(directory)
    private = directory / "sa.key"
    public = directory / "sa.pub"
    _new_key(private, directory)
    _openssl("pkey", "-in", str(private), "-pubout", "-out", str(public), cwd=directory)
    return private, public
