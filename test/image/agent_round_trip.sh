#!/usr/bin/env bash
# One agent round trip through the built image: agent_round_trip.sh IMAGE_ROOT AGENTCTL WORK_DIR.
# Must run in a private mount namespace (run.sh starts it with `unshare --mount --propagation private`):
# every mount below disappears with the namespace and none reaches the host. The image's root gets what the
# agent DaemonSet's pod has: the host's root at /host, /proc (host PID namespace) and /dev. The image's own
# jarvis then serves as agent, chrooted into the image, and must run a command sent by jarvis-agentctl in the
# host's root: the reply carries its output and the marker file it writes appears on the host.
set -euo pipefail

root=$1 agentctl=$2 work=$3
marker=$work/round-trip-marker
mkdir -p "$root/host" "$root/proc" "$root/dev"
mount --rbind / "$root/host"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"

chroot=$(command -v chroot)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# Plaintext on purpose (--insecure on both sides): this checks that the image's binary runs and reaches the
# host root; mutual TLS between real processes is covered by test/e2e/test_security.py.
# No probe or metrics endpoint (0): the default port (:50052, all addresses) may be taken on a test machine;
# the real-node tests check the probes through a kubelet.
env -i PATH=/usr/local/bin "$chroot" "$root" jarvis --role=agent --listen="127.0.0.1:$port" --host-root=/host \
  --node-name=image-test --insecure --health-probe-bind-address=0 --metrics-bind-address=0 >"$work/agent.log" 2>&1 &
agent=$!
# Runs under errexit as the EXIT trap: every step tolerates an agent that is already gone.
stop_agent() {
  kill "$agent" 2>/dev/null || true
  local deadline=$((SECONDS + 10))
  while kill -0 "$agent" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
  kill -KILL "$agent" 2>/dev/null || true
  wait "$agent" 2>/dev/null || true
  echo "agent log:"
  cat "$work/agent.log"
}
trap stop_agent EXIT

deadline=$((SECONDS + 30))
until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
  kill -0 "$agent" 2>/dev/null || { echo "the agent exited before listening"; exit 1; }
  ((SECONDS < deadline)) || { echo "the agent did not listen on 127.0.0.1:$port within 30 s"; exit 1; }
  sleep 0.1
done

reply=$("$agentctl" --target "127.0.0.1:$port" --insecure start --id image-round-trip --timeout 30 --wait \
  --command "echo ran-in-host-root > '$marker' && cat '$marker'")
echo "reply: $reply"
python3 - "$reply" <<'PY'
import json, sys
execution = json.loads(sys.argv[1])
assert execution["state"] == "STATE_SUCCEEDED", execution["state"]
assert execution["exit_code"] == 0 and execution["node_name"] == "image-test", execution
assert execution["output"] == "ran-in-host-root\n", execution["output"]
PY
[[ $(cat "$marker") == ran-in-host-root ]]
