#!/usr/bin/env bash
# Builds kubelet, kube-scheduler and kube-controller-manager at the Kubernetes version pinned in versions.env
# (the same release and the same way as build.sh builds kube-apiserver) and caches them outside the
# repository, keyed by version. Prints the cache directory. Only the real-node tests and demo need them, so
# they have a cache entry of their own. As in build.sh, binaries are built into a temporary directory renamed
# at the very end: a failed or interrupted build never looks complete.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

programs=(kubelet kube-scheduler kube-controller-manager)
cache_root=${JARVIS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/jarvis}
key="k8s-${KUBERNETES_VERSION}-node"
dest="$cache_root/$key"
complete() {
  local program
  for program in "${programs[@]}"; do [[ -x "$dest/$program" ]] || return 1; done
}
if complete; then
  echo "$dest"
  exit 0
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/.$key.lock"
flock 9
if complete; then
  echo "$dest"
  exit 0
fi
tmp=$(mktemp -d "$cache_root/.building-$key.XXXXXX")
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

# The same Go as build.sh: the PATH's when new enough, else the pinned toolchain fetched into the cache.
go=$(bash "$here/go-toolchain.sh")
export PATH="$(dirname "$go"):$PATH" GOTOOLCHAIN=local
unset GOROOT
echo "build_node.sh: building ${programs[*]} $KUBERNETES_VERSION into $dest (first run only, takes minutes)" >&2
start=$SECONDS
# Static like the release binaries: the kubelet needs no cgo for containerd (CRI over gRPC), cgroups or mounts.
export CGO_ENABLED=0 GOFLAGS=-mod=mod
minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
done
for program in "${programs[@]}"; do
  (cd "$here/node" && go build -trimpath -ldflags "$ldflags" -o "$tmp/$program" "k8s.io/kubernetes/cmd/$program")
done
echo "build_node.sh: built in $((SECONDS - start)) s" >&2
rm -rf "$dest"
mv -T "$tmp" "$dest"
trap - EXIT
echo "$dest"
