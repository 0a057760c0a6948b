#!/usr/bin/env bash
# The local demo: builds jarvis, brings up a real Kubernetes control plane (etcd + kube-apiserver) with 3
# simulated nodes, each running a jarvis agent, installs the CRD and RBAC from manifests/, starts the
# controller as its own service account, applies the seed's sample Command and shows what a user sees.
#
#   bash scripts/demo.sh          # bring it up (leaves it running)
#   bash scripts/demo.sh down     # stop it and remove its directory
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
demo_dir=${JARVIS_DEMO_DIR:-/tmp/jarvis-demo}

if [[ "${1:-up}" == down ]]; then
  exec /usr/bin/python3 test/cluster/cluster.py down --dir "$demo_dir"
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Installing build dependencies (Debian packages; quick when present)"
bash scripts/install-deps.sh

step "Building kube-apiserver, kubectl and etcd (pinned; cached in ~/.cache/jarvis after the first run)"
k8s_bin=$(bash test/cluster/upstream/build.sh)

step "Building jarvis"
[[ -f build/build.ninja ]] || meson setup build >/dev/null
ninja -C build src/jarvis >/dev/null
build/src/jarvis --version

step "Starting the control plane, 3 nodes with their agents, manifests/ and the controller"
/usr/bin/python3 test/cluster/cluster.py up --dir "$demo_dir" --jarvis build/src/jarvis \
  --manifests manifests --controller
export KUBECONFIG="$demo_dir/admin.kubeconfig"
kubectl="$k8s_bin/kubectl"

step "kubectl get nodes"
"$kubectl" get nodes

step "kubectl get secrets -n jarvis (mutual TLS: the controller made the Jarvis CA and the agents' certificate)"
"$kubectl" get secrets -n jarvis

step "kubectl apply -f manifests/samples/v1_command.yaml"
"$kubectl" apply -f manifests/samples/v1_command.yaml
"$kubectl" wait -n jarvis command/command-sample --for=jsonpath='{.status.phase}'=Succeeded --timeout=120s >/dev/null \
  || "$kubectl" wait -n jarvis command/command-sample --for=jsonpath='{.status.phase}'=Failed --timeout=5s >/dev/null

step "kubectl get command -n jarvis"
"$kubectl" get command -n jarvis

step "kubectl get events -n jarvis --field-selector involvedObject.name=command-sample"
"$kubectl" get events -n jarvis --field-selector involvedObject.name=command-sample

step "kubectl describe command command-sample -n jarvis"
"$kubectl" describe command command-sample -n jarvis

cat <<EOT

The demo cluster is running. Try your own Commands:

  export KUBECONFIG=$demo_dir/admin.kubeconfig
  alias kubectl=$kubectl
  kubectl apply -f manifests/samples/uptime_workers.yaml
  kubectl get commands -n jarvis
  kubectl get events -n jarvis --field-selector involvedObject.name=uptime-workers
  kubectl describe command uptime-workers -n jarvis

Controller log: $demo_dir/controller-1.log   Agent logs: $demo_dir/agents/
Stop everything: bash scripts/demo.sh down
EOT
