#!/usr/bin/env bash
# Installs every build and test dependency of Jarvis on a fresh Debian 12 machine.
# Idempotent: when every package is already present it only runs one dpkg query.
#   --list  prints the package names, one a line, and installs nothing (test/image/run.sh bakes them
#           into its Debian base image so that the Containerfile's build stage needs no network).
#   PACKAGE...  installs only these (test/cluster/upstream/go-toolchain.sh asks for golang-go when there is
#           no go at all, to fetch the pinned Go toolchain with).
set -euo pipefail

packages=(
  build-essential pkg-config meson ninja-build ccache git ca-certificates
  libboost1.81-dev libssl-dev openssl
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  rapidjson-dev libcli11-dev catch2 libyaml-cpp-dev
  busybox-static procps iproute2 python3 python3-pytest
)
# Container-image suite and the real-node tests only (the node's container runtime and CNI plugins).
image_packages=(buildah debootstrap containerd runc containernetworking-plugins)

# Used by the end-to-end tests on this machine only (the Prometheus text parser of test_observability.py), never
# by a build: kept out of --list, so the image's Debian base (keyed by that list) does not change for them.
host_test_packages=(python3-prometheus-client)

want=("${packages[@]}")
if (($# > 0)) && [[ $1 != --list ]]; then
  want=("$@")
elif [[ "${JARVIS_WITH_IMAGE_TOOLS:-0}" == 1 ]]; then
  want+=("${image_packages[@]}")
fi

if [[ "${1:-}" == --list ]]; then
  printf '%s\n' "${want[@]}"
  exit 0
fi
if (($# == 0)); then
  want+=("${host_test_packages[@]}")
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) != 0 ]]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
