#!/usr/bin/env bash
# Runs every test of Jarvis, as CI does, from a fresh clone on Debian 12:
#   1. installs the build and test dependencies (scripts/install-deps.sh; quick when present),
#   2. builds kube-apiserver, kubectl and etcd at the pinned versions (cached in ~/.cache/jarvis), and the
#      real node's kubelet, kube-scheduler and kube-controller-manager (same release, own cache entry),
#   3. builds jarvis and runs the unit and integration tests (meson test),
#   4. builds again with AddressSanitizer + UndefinedBehaviorSanitizer and runs the same tests (at -O0: the
#      sanitizers check the same, and it compiles about 4x faster than -O2),
#   5. builds the container image once with buildah (test/image/build.sh, an OCI archive),
#   6. runs the end-to-end tests against a real local control plane (pytest, test/e2e; a shutdown test runs the
#      ASan build of the controller), the real-node tests
#      among them (the image's pods run by a real kubelet and containerd), and the
#      tests of the Go toolchain bootstrap (pytest, test/cluster/upstream),
#   7. checks the container image (test/image/run.sh).
# JARVIS_SKIP_IMAGE=1 skips the image and with it the real-node tests.
# Ends with one line "N passed, N failed" counting every test of every stage.
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

stage() { printf '\n=== %s (at %d s) ===\n' "$*" "$SECONDS"; }

# One compiler cache for every build of the suite (plain, ASan, and the image's build stage, which mounts it),
# kept beside the upstream binaries. Compilations run from build directories with relative paths and the
# directory is not hashed, so clean clones in different places and the image's /src share their objects.
cache_root=${JARVIS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/jarvis}
if [[ -z "${CCACHE_DISABLE:-}" ]]; then
  export CCACHE_DIR="$cache_root/ccache"
  mkdir -p "$CCACHE_DIR"
  printf 'hash_dir = false\nmax_size = 8G\n' >"$CCACHE_DIR/ccache.conf"
fi

stage "dependencies"
JARVIS_WITH_IMAGE_TOOLS=1 bash scripts/install-deps.sh || { echo "install-deps failed"; echo "0 passed, 1 failed"; exit 1; }

stage "upstream control-plane binaries"
start=$SECONDS
if ! k8s_bin=$(bash test/cluster/upstream/build.sh); then
  echo "building the upstream binaries failed"; echo "0 passed, 1 failed"; exit 1
fi
echo "upstream binaries in $k8s_bin ($((SECONDS - start)) s)"
export JARVIS_K8S_BIN="$k8s_bin"
if [[ "${JARVIS_SKIP_IMAGE:-0}" != 1 ]]; then
  start=$SECONDS
  if ! k8s_node_bin=$(bash test/cluster/upstream/build_node.sh); then
    echo "building the real node's upstream binaries failed"; echo "0 passed, 1 failed"; exit 1
  fi
  echo "real node binaries in $k8s_node_bin ($((SECONDS - start)) s)"
fi

build_and_test() {  # build dir, extra meson args...
  local dir=$1; shift
  if [[ ! -f "$dir/build.ninja" ]]; then
    meson setup "$dir" "$@" >"$results/$(basename "$dir").setup.log" 2>&1 \
      || { cat "$results/$(basename "$dir").setup.log"; return 1; }
  fi
  ninja -C "$dir" || return 1
  meson test -C "$dir" --print-errorlogs --num-processes 2 || true
  cp "$dir/meson-logs/testlog.json" "$results/$(basename "$dir").testlog.json" 2>/dev/null || true
}

stage "build + unit/integration tests"
build_and_test build || echo '{"name": "build", "result": "FAIL"}' >"$results/build.testlog.json"

stage "build + unit/integration tests under ASan+UBSan"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  build_and_test build-asan --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
  || echo '{"name": "build-asan", "result": "FAIL"}' >"$results/build-asan.testlog.json"

e2e_skip=()
if [[ "${JARVIS_SKIP_IMAGE:-0}" != 1 ]]; then
  stage "container image build (buildah, offline; one build for the real-node tests and the image checks)"
  start=$SECONDS
  if bash test/image/build.sh "$results/jarvis-image.tar"; then
    export JARVIS_IMAGE_ARCHIVE="$results/jarvis-image.tar"
    echo "image built in $((SECONDS - start)) s"
  else
    echo '{"name": "image build", "result": "FAIL"}' >"$results/image-build.testlog.json"
    e2e_skip=(--ignore=test/e2e/test_real_node.py)
  fi
else
  e2e_skip=(--ignore=test/e2e/test_real_node.py)
fi

stage "end-to-end tests (real kube-apiserver, kubectl, agents, controller; a real node)"
JARVIS_BINARY="$repo/build/src/jarvis" JARVIS_AGENTCTL="$repo/build/test/agent/jarvis-agentctl" \
  JARVIS_ASAN_BINARY="$repo/build-asan/src/jarvis" \
  /usr/bin/python3 -m pytest -v -p no:cacheprovider --durations=15 --junitxml="$results/e2e.xml" "${e2e_skip[@]}" test/e2e test/cluster/upstream
pytest_rc=$?
if [[ $pytest_rc -ne 0 && ! -s "$results/e2e.xml" ]]; then
  echo '{"name": "e2e", "result": "FAIL"}' >"$results/e2e-crash.testlog.json"
fi

if [[ "${JARVIS_SKIP_IMAGE:-0}" != 1 ]]; then
  stage "container image checks (test/image/run.sh)"
  if [[ -x test/image/run.sh && -n "${JARVIS_IMAGE_ARCHIVE:-}" ]]; then
    JARVIS_AGENTCTL="$repo/build/test/agent/jarvis-agentctl" bash test/image/run.sh | tee "$results/image.log"
    [[ ${PIPESTATUS[0]} -eq 0 ]] || echo '{"name": "image", "result": "FAIL"}' >"$results/image-rc.testlog.json"
  fi
fi

stage "summary"
echo "whole run: $SECONDS s"
/usr/bin/python3 scripts/summarize_tests.py "$results"
