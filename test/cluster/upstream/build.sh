#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd at the versions pinned in versions.env and caches them outside the
# repository, keyed by version. Prints the cache directory. A cache entry is complete only once its
# directory exists under its final name: binaries are built into a temporary directory that is renamed at
# the very end, so a failed or interrupted build never looks complete. Needs no Go installed: see go-toolchain.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

cache_root=${JARVIS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/jarvis}
key="k8s-${KUBERNETES_VERSION}-etcd-${ETCD_VERSION}"
dest="$cache_root/$key"
if [[ -x "$dest/kube-apiserver" && -x "$dest/kubectl" && -x "$dest/etcd" ]]; then
  echo "$dest"
  exit 0
fi

mkdir -p "$cache_root"
# Test runs started at the same time on a clean machine wait for one build instead of racing to rename.
exec 9>"$cache_root/.$key.lock"
flock 9
if [[ -x "$dest/kube-apiserver" && -x "$dest/kubectl" && -x "$dest/etcd" ]]; then
  echo "$dest"
  exit 0
fi
tmp=$(mktemp -d "$cache_root/.building-$key.XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

# A go new enough for the go.mod files here: the PATH's, or the pinned toolchain fetched into the cache.
go=$(bash "$here/go-toolchain.sh")
export PATH="$(dirname "$go"):$PATH" GOTOOLCHAIN=local
unset GOROOT
echo "build.sh: building Kubernetes $KUBERNETES_VERSION and etcd $ETCD_VERSION into $dest (first run only, takes minutes)" >&2
start=$SECONDS
export CGO_ENABLED=0 GOFLAGS=-mod=mod
minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
ldflags_kube="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags_kube+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
done
(cd "$here/kube" && go build -trimpath -ldflags "$ldflags_kube" -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
(cd "$here/kube" && go build -trimpath -ldflags "$ldflags_kube" -o "$tmp/kubectl" k8s.io/kubernetes/cmd/kubectl)
(cd "$here/etcd" && go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
echo "build.sh: built in $((SECONDS - start)) s" >&2
rm -rf "$dest"
mv -T "$tmp" "$dest"
trap - EXIT
echo "$dest"
