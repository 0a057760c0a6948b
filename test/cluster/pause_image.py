"""The pod sandbox ("pause") image of the real node, built by the project: pause/pause.c compiled static with
gcc and packaged by hand as a one-layer OCI image archive (oci-layout, index.json, blobs), which
`ctr images import` loads into the node's containerd. No registry is involved.
"""
import hashlib
import io
import json
import subprocess
import tarfile
from pathlib import Path

PAUSE_SOURCE = Path(__file__).resolve().parent / "pause" / "pause.c"
PAUSE_IMAGE = "localhost/jarvis-pause:1"


def compile_pause(output):
    """Compiles pause.c into a static executable at output; returns output."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["gcc", "-static", "-Os", "-s", "-Wall", "-Wextra", "-Werror", "-o", str(output),
                             str(PAUSE_SOURCE)], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"gcc -static {PAUSE_SOURCE} failed (Debian: apt-get install build-essential): "
                           f"{result.stderr.strip()}")
    return output


def _layer(executable):
    buffer = io.BytesIO()
    data = Path(executable).read_bytes()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entry = tarfile.TarInfo("pause")
        entry.size = len(data)
        entry.mode = 0o755
        tar.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


def _blob(tar, content, media_type):
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    entry = tarfile.TarInfo("blobs/sha256/" + digest.split(":")[1])
    entry.size = len(content)
    entry.mode = 0o644
    tar.addfile(entry, io.BytesIO(content))
    return {"mediaType": media_type, "digest": digest, "size": len(content)}


def _json(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def write_oci_archive(executable, archive, name=PAUSE_IMAGE):
    """Writes an OCI image archive holding executable as /pause, the image's entrypoint, user 65535, and
    named `name` for containerd's importer. Returns archive."""
    layer = _layer(executable)
    config = {
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": ["/pause"], "User": "65535:65535"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
    }
    archive = Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, mode="w", format=tarfile.PAX_FORMAT) as tar:
        layer_descriptor = _blob(tar, layer, "application/vnd.oci.image.layer.v1.tar")
        config_descriptor = _blob(tar, _json(config), "application/vnd.oci.image.config.v1+json")
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": config_descriptor, "layers": [layer_descriptor]}
        manifest_descriptor = _blob(tar, _json(manifest), manifest["mediaType"])
        manifest_descriptor["annotations"] = {"io.containerd.image.name": name,
                                              "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]}
        manifest_descriptor["platform"] = {"architecture": "amd64", "os": "linux"}
        index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                 "manifests": [manifest_descriptor]}
        for file_name, content in (("oci-layout", _json({"imageLayoutVersion": "1.0.0"})),
                                   ("index.json", _json(index))):
            entry = tarfile.TarInfo(file_name)
            entry.size = len(content)
            entry.mode = 0o644
            tar.addfile(entry, io.BytesIO(content))
    return archive


def build_pause_image(directory):
    """Compiles pause and writes its image archive into directory; returns the archive's path."""
    directory = Path(directory)
    return write_oci_archive(compile_pause(directory / "pause"), directory / "pause-image.tar")
