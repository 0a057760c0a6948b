#!/usr/bin/env bash
# The container-image suite (slow; CI runs it): checks the image Containerfile builds offline with Debian's
# buildah, and proves it is complete by running jarvis out of it with chroot.
#   1. The image: the OCI archive test/image/build.sh writes (buildah bud --isolation chroot --pull=never on a
#      debootstrap Debian 12 base; no registry, no container engine). JARVIS_IMAGE_ARCHIVE names an archive
#      already built (scripts/test.sh builds it once, for this suite and the real-node tests); without it
#      this suite builds one.
#   2. The archive imported into a private buildah storage.
#   3. The image's configuration, its contents, `jarvis --version` as the image's user, and an agent round
#      trip: the image's agent, chrooted into the image with the host's root at /host exactly as the
#      DaemonSet mounts it, runs a command sent by jarvis-agentctl.
# Prints "ok - CHECK" or "not ok - CHECK" per check, then "N passed, N failed"; exits non-zero on any failure.
# Needs root (debootstrap, chroot, mount namespaces). Everything it starts or creates is removed on exit.
# Environment: JARVIS_IMAGE_ARCHIVE, JARVIS_AGENTCTL (default build/test/agent/jarvis-agentctl),
# JARVIS_CACHE_DIR, JARVIS_DEBIAN_MIRROR.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$repo/test/image
agentctl=${JARVIS_AGENTCTL:-$repo/build/test/agent/jarvis-agentctl}
archive=${JARVIS_IMAGE_ARCHIVE:-}
chroot=$(command -v chroot)
image_name=localhost/jarvis:dev

work=$(mktemp -d "${TMPDIR:-/var/tmp}/jarvis-image.XXXXXX")
buildah_opts=(--root "$work/storage" --runroot "$work/run" --storage-driver vfs)
bah() { buildah "${buildah_opts[@]}" "$@"; }

container=""
cleanup() {
  if [[ -n $container ]]; then bah rm "$container" >/dev/null 2>&1; fi
  bah rmi --all --force >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $1"; failed=$((failed + 1)); }
# Runs one check: check NAME FUNCTION; the function's output goes to a log shown only when it fails.
check() {
  local name=$1 start=$SECONDS log="$work/$2.log"
  if "$2" >"$log" 2>&1; then
    ok "$name ($((SECONDS - start)) s)"
  else
    not_ok "$name ($((SECONDS - start)) s)"
    sed 's/^/#   /' "$log" | tail -n 40
    return 1
  fi
}
finish() {
  echo "$passed passed, $failed failed"
  ((failed == 0)) && exit 0
  exit 1
}

build_archive() {
  archive=$work/jarvis-image.tar
  "$here/build.sh" "$archive"
}

import_archive() {
  local id
  id=$(bah pull --quiet "oci-archive:$archive") || return 1
  bah tag "$id" "$image_name"
}

# The roles come from the manifests' args: the image has an entrypoint and no default arguments.
image_config_is_right() {
  bah inspect --type image "$image_name" | python3 -c '
import json, sys
config = json.load(sys.stdin)["OCIv1"]["config"]
print(json.dumps(config))
assert config.get("Entrypoint") == ["jarvis"], "entrypoint"
assert not config.get("Cmd"), "cmd"
assert config.get("User") == "65532:65532", "user"
assert "PATH=/usr/local/bin" in config.get("Env", []), "PATH"
'
}

mount_image() {
  container=$(bah from --pull-never "$image_name") || return 1
  mnt=$(bah mount "$container") || return 1
  echo "mounted at $mnt"
}

# Only the executable, the shared libraries it needs and the dynamic loader: no shell, no package manager.
image_holds_only_jarvis_and_its_libraries() {
  local files
  files=$(cd "$mnt" && find . -type f | sort)
  echo "$files"
  echo "# image: $(wc -l <<<"$files") files, $(du -sh "$mnt" | cut -f1)" >"$work/image-summary"
  grep -qx './usr/local/bin/jarvis' <<<"$files" || return 1
  grep -q 'ld-linux' <<<"$files" || return 1
  ! grep -v -e '^./usr/local/bin/jarvis$' -e '\.so[.0-9]*$' <<<"$files"
}

# Every library jarvis links resolves inside the image, as the image's own dynamic loader sees it.
libraries_resolve_inside_image() {
  local loader listing
  loader=$(cd "$mnt" && find . -name 'ld-linux*.so*' -type f | head -n 1)
  listing=$(env -i "$chroot" "$mnt" "${loader#.}" --list /usr/local/bin/jarvis) || return 1
  echo "$listing"
  ! grep -q 'not found' <<<"$listing"
}

version_runs_as_image_user() {
  local want got
  want="jarvis $(sed -n "s/^  version: '\(.*\)',$/\1/p" "$repo/meson.build")"
  got=$(env -i PATH=/usr/local/bin "$chroot" --userspec=65532:65532 "$mnt" jarvis --version) || return 1
  echo "want '$want', got '$got'"
  [[ $got == "$want" ]]
}

agent_round_trip() {
  if [[ ! -x $agentctl ]]; then
    echo "jarvis-agentctl not found at $agentctl: build it (ninja -C build test/agent/jarvis-agentctl) or set JARVIS_AGENTCTL"
    return 1
  fi
  unshare --mount --propagation private --fork "$here/agent_round_trip.sh" "$mnt" "$agentctl" "$work"
}

if [[ -z $archive ]]; then
  check "test/image/build.sh: buildah bud --isolation chroot --storage-driver vfs --pull=never" build_archive || finish
fi
check "OCI archive $(basename "$archive") imported as $image_name" import_archive || finish
check "image entrypoint is [\"jarvis\"], no default arguments, user 65532" image_config_is_right
check "image mounted" mount_image || finish
check "image holds only jarvis, its shared libraries and the loader" image_holds_only_jarvis_and_its_libraries
cat "$work/image-summary" 2>/dev/null
check "every shared library resolves inside the image" libraries_resolve_inside_image
check "jarvis --version runs in the image as its non-root user" version_runs_as_image_user
check "agent round trip: the image's agent runs a command in the host root at /host" agent_round_trip
finish
