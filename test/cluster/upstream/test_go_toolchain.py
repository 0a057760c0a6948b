"""go-toolchain.sh on a machine without a new enough Go: it fetches the pinned toolchain into the cache
directory, checks it against the checksum pinned in versions.env and refuses a download that does not match.

The toolchain archive (~70 MB) is fetched from the Go module proxy (GOPROXY honoured) once into a module
cache kept beside the upstream binaries (JARVIS_GO_DOWNLOAD_CACHE), so later runs only unpack it; every test
still runs the whole fetch, check and unpack into a temporary cache directory of its own.
"""
import base64
import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

UPSTREAM = Path(__file__).resolve().parent
SCRIPT = UPSTREAM / "go-toolchain.sh"
# No go here, unless Debian's golang-go (too old for the go.mod files) is installed.
PATH_WITHOUT_GO = "/usr/sbin:/usr/bin:/sbin:/bin"
FETCH_TIMEOUT = 900  # a 70 MB download and 240 MB unpacked on a loaded machine


def pinned():
    values = {}
    for line in (UPSTREAM / "versions.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value
    return values


def platform_name():
    return "linux-" + {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def go_version(go, env):
    return subprocess.run([str(go), "version"], env={**env, "GOTOOLCHAIN": "local"}, capture_output=True,
                          text=True, timeout=60, check=True).stdout.strip()


@pytest.fixture(scope="session")
def download_cache():
    root = Path(os.environ.get("JARVIS_CACHE_DIR")
                or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jarvis")
    return root / "go-download-for-tests"


def bootstrap_env(cache_dir, download_cache, **extra):
    """The environment of a machine whose PATH has no go new enough: a go found elsewhere (or none, and then
    the script installs Debian's golang-go) is only used to fetch the toolchain."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("GOROOT", "JARVIS_GO_TOOLCHAIN_SUM", "JARVIS_GO_FOR_DOWNLOAD")}
    env.update(PATH=PATH_WITHOUT_GO, JARVIS_CACHE_DIR=str(cache_dir), JARVIS_GO_DOWNLOAD_CACHE=str(download_cache))
    if shutil.which("go", path=PATH_WITHOUT_GO) is None and shutil.which("go"):
        env["JARVIS_GO_FOR_DOWNLOAD"] = shutil.which("go")
    env.update(extra)
    return env


def run_bootstrap(env):
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=FETCH_TIMEOUT)


@pytest.fixture(scope="session")
def fetched(tmp_path_factory, download_cache):
    cache_dir = tmp_path_factory.mktemp("go-cache")
    env = bootstrap_env(cache_dir, download_cache)
    return run_bootstrap(env), cache_dir, env


def test_fetches_the_pinned_toolchain_when_the_path_has_no_go(fetched):
    result, cache_dir, env = fetched
    version = pinned()["GO_VERSION"]
    assert result.returncode == 0, result.stderr
    toolchain = cache_dir / f"go-{version}-{platform_name()}"
    assert result.stdout.strip() == str(toolchain / "bin" / "go"), result.stderr
    assert "fetching golang.org/toolchain@v0.0.1-go" in result.stderr

    assert go_version(toolchain / "bin" / "go", env) == f"go version go{version} {platform_name().replace('-', '/')}"
    not_executable = [str(f) for d in ("bin", "pkg/tool") for f in (toolchain / d).rglob("*")
                      if f.is_file() and not os.access(f, os.X_OK)]
    assert not_executable == []
    assert sorted(p.name for p in cache_dir.iterdir() if not p.name.endswith(".lock")) == [toolchain.name]


def test_uses_a_new_enough_go_on_the_path_as_it_is(fetched, tmp_path, download_cache):
    result, _, _ = fetched
    assert result.returncode == 0, result.stderr
    go = Path(result.stdout.strip())
    env = bootstrap_env(tmp_path, download_cache, PATH=f"{go.parent}:{PATH_WITHOUT_GO}")

    again = run_bootstrap(env)

    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == str(go)
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_pinned_checksum_stops_the_bootstrap(tmp_path, download_cache):
    wrong = "h1:" + base64.b64encode(bytes(32)).decode()
    pinned_sum = pinned()["GO_TOOLCHAIN_SUM_" + platform_name().replace("-", "_")]
    env = bootstrap_env(tmp_path, download_cache, JARVIS_GO_TOOLCHAIN_SUM=wrong)

    result = run_bootstrap(env)

    assert result.returncode != 0
    assert result.stdout == ""
    assert "checksum mismatch" in result.stderr
    assert f"expected {wrong}" in result.stderr and f"got {pinned_sum}" in result.stderr, result.stderr
    assert "not using the download" in result.stderr
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == []
