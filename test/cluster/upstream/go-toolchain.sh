#!/usr/bin/env bash
# Prints the path of a `go` command new enough to build the upstream programs of this directory (the highest
# `go` directive of its */go.mod files). That is the go on the PATH when it is new enough; otherwise the Go
# toolchain pinned in versions.env (GO_VERSION), fetched once the way the go command fetches toolchains (the
# module golang.org/toolchain, with whatever go is at hand; Debian's golang-go is installed when there is
# none), checked against the checksum pinned in versions.env and unpacked into the cache directory, keyed
# by version and platform. Like build.sh, the cache entry only appears under its final name once complete.
#
# Environment:
#   JARVIS_CACHE_DIR          the cache directory (default ${XDG_CACHE_HOME:-~/.cache}/jarvis)
#   GOPROXY, GOSUMDB, ...     honoured by the download, as by any go command
#   JARVIS_GO_FOR_DOWNLOAD    the go command used only to fetch the toolchain (default: the go on the PATH,
#                             else Debian's golang-go, installed when missing)
#   JARVIS_GO_DOWNLOAD_CACHE  a Go module cache kept for the download (default: a temporary one, removed
#                             afterwards); the tests share one so that they fetch the archive once
#   JARVIS_GO_TOOLCHAIN_SUM   replaces the pinned checksum (the tests check that a wrong one stops here)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

die() { echo "go-toolchain.sh: $*" >&2; exit 1; }

# "go1.26.8", "1.24.0", "1.24", "go1.26rc1" -> a number that orders versions; a pre-release sorts before .0.
version_order() {
  [[ $1 =~ ^(go)?1\.([0-9]+)(\.([0-9]+)|(rc|beta)[0-9]+)?$ ]] || return 1
  local minor=${BASH_REMATCH[2]} patch=${BASH_REMATCH[4]:-0}
  [[ -z ${BASH_REMATCH[5]} ]] || patch=-1
  echo $((minor * 1000 + patch + 1))
}

# The version a go command reports (go1.26.8), asked so that it cannot switch to another toolchain.
go_version_of() {
  (cd / && env -u GOROOT GOTOOLCHAIN=local "$1" version 2>/dev/null) | awk '{print $3}'
}

required=1.0
for mod in "$here"/*/go.mod; do
  directive=$(awk '$1 == "go" {print $2; exit}' "$mod")
  version_order "$directive" >/dev/null || die "$mod: cannot read its go directive '$directive'"
  if (($(version_order "$directive") > $(version_order "$required"))); then required=$directive; fi
done
(($(version_order "$GO_VERSION") >= $(version_order "$required"))) \
  || die "versions.env pins GO_VERSION=$GO_VERSION but a go.mod in $here needs go >= $required; raise GO_VERSION and its GO_TOOLCHAIN_SUM_* lines"

if on_path=$(command -v go); then
  have=$(go_version_of "$on_path")
  if order=$(version_order "$have") && ((order >= $(version_order "$required"))); then
    echo "$on_path"
    exit 0
  fi
fi

os=$(uname -s | tr '[:upper:]' '[:lower:]')
case $(uname -m) in
  x86_64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac
sum_var="GO_TOOLCHAIN_SUM_${os}_${arch}"
expected=${JARVIS_GO_TOOLCHAIN_SUM:-${!sum_var:-}}
[[ -n $expected ]] || die "no go >= $required on the PATH, and versions.env pins no checksum ($sum_var) to fetch Go $GO_VERSION for $os-$arch with; install Go >= $required, or add $sum_var (the Sum that \`go mod download -json golang.org/toolchain@v0.0.1-go$GO_VERSION.$os-$arch\` prints)"

cache_root=${JARVIS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/jarvis}
key="go-$GO_VERSION-$os-$arch"
dest="$cache_root/$key"
if [[ -x "$dest/bin/go" ]]; then
  echo "$dest/bin/go"
  exit 0
fi
mkdir -p "$cache_root"
exec 9>"$cache_root/.$key.lock"
flock 9
if [[ -x "$dest/bin/go" ]]; then
  echo "$dest/bin/go"
  exit 0
fi

downloader=${JARVIS_GO_FOR_DOWNLOAD:-$(command -v go || true)}
if [[ -z $downloader ]]; then
  echo "go-toolchain.sh: no go command on the PATH; installing Debian's golang-go, only to fetch Go $GO_VERSION" >&2
  bash "$repo/scripts/install-deps.sh" golang-go >&2
  downloader=/usr/bin/go
fi
[[ -x $downloader ]] || die "cannot run $downloader to fetch Go $GO_VERSION (JARVIS_GO_FOR_DOWNLOAD?)"

# The go command makes what it downloads read-only; make it writable again before removing it.
tmp=$(mktemp -d "$cache_root/.fetching-$key.XXXXXX")
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
module=golang.org/toolchain@v0.0.1-go$GO_VERSION.$os-$arch
modcache=${JARVIS_GO_DOWNLOAD_CACHE:-$tmp/modcache}
mkdir -p "$modcache"
exec 8>"$modcache/.jarvis-go-toolchain.lock"
flock 8

echo "go-toolchain.sh: no go >= $required on the PATH; fetching $module into $dest with $downloader ($(go_version_of "$downloader")), first run only" >&2
start=$SECONDS
if ! (cd "$tmp" && env -u GOROOT GOTOOLCHAIN=local GOFLAGS=-mod=mod GO111MODULE=on GOWORK=off GOMODCACHE="$modcache" \
      "$downloader" mod download -json "$module" >"$tmp/download.json"); then
  cat "$tmp/download.json" >&2
  die "could not fetch $module with $downloader (see above)"
fi
extracted="$modcache/$module"
[[ -d $extracted ]] || die "go mod download reported success but left no $extracted"
chmod u+w "$extracted"
mv -T "$extracted" "$tmp/go"
chmod -R u+w "$tmp/go"

# dirhash.Hash1, the "h1:" of go.sum: sha256 over the sorted lines "<sha256 of file>  <module@version/path>".
# Computed here over the very files that will run, so neither the proxy nor the module cache is trusted.
actual_hex=$(cd "$tmp/go" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum \
  | sed "s|  |  $module/|" | sha256sum | cut -d' ' -f1)
actual="h1:$(printf '%b' "$(sed 's/../\\x&/g' <<<"$actual_hex")" | base64 -w0)"
[[ $actual == "$expected" ]] \
  || die "checksum mismatch for $module: expected $expected (pinned in versions.env as $sum_var${JARVIS_GO_TOOLCHAIN_SUM:+, replaced by JARVIS_GO_TOOLCHAIN_SUM}), got $actual; not using the download"

# Unpacking a module drops the execute bits; the go command sets them on these two directories too.
find "$tmp/go/pkg/tool" "$tmp/go/bin" -type f -exec chmod a+x {} +
reported=$(go_version_of "$tmp/go/bin/go")
[[ $reported == "go$GO_VERSION" ]] || die "the fetched toolchain reports '$reported', expected go$GO_VERSION"
rm -rf "$dest"
mv -T "$tmp/go" "$dest"
echo "go-toolchain.sh: Go $GO_VERSION is in $dest ($((SECONDS - start)) s)" >&2
echo "$dest/bin/go"
