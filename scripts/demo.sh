#!/usr/bin/env bash
# The local demo: builds jarvis, brings up a real Kubernetes control plane (etcd + kube-apiserver) with 3
# simulated nodes, each running a jarvis agent, installs the CRD and RBAC from manifests/, starts the
# controller as its own service account, applies the seed's sample Command and shows what a user sees.
#
#   bash scripts/demo.sh          # bring it up (leaves it running)
#   bash scripts/demo.sh down     # stop it and remove its directory
#
# Real-node mode (slower, needs root): Jarvis deployed as a user deploys it. A real kubelet and containerd
# run the image built from Containerfile; `kubectl apply -k` installs manifests/ (with the small test overlay
# this machine needs), and the seed's sample runs through the real agent and controller pods.
#   bash scripts/demo.sh --real-node          # bring it up (leaves it running)
#   bash scripts/demo.sh --real-node down     # stop it and remove its directory
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
real_node=0
if [[ "${1:-}" == --real-node ]]; then
  real_node=1
  shift
fi
demo_dir=${JARVIS_DEMO_DIR:-/tmp/jarvis-demo}
((real_node)) && demo_dir=${JARVIS_DEMO_DIR:-/tmp/jarvis-demo-real-node}

if [[ "${1:-up}" == down ]]; then
  ((real_node)) && exec /usr/bin/python3 test/cluster/real_node_cli.py down --dir "$demo_dir"
  exec /usr/bin/python3 test/cluster/cluster.py down --dir "$demo_dir"
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if ((real_node)); then
  step "Installing build dependencies, buildah, containerd, runc, CNI plugins (Debian packages)"
  JARVIS_WITH_IMAGE_TOOLS=1 bash scripts/install-deps.sh

  step "Building kube-apiserver, kubectl, etcd, kubelet, kube-scheduler, kube-controller-manager (pinned; cached)"
  bash test/cluster/upstream/build.sh >/dev/null
  bash test/cluster/upstream/build_node.sh >/dev/null

  image_archive=${JARVIS_IMAGE_ARCHIVE:-}
  if [[ -z $image_archive ]]; then
    step "Building the Jarvis image from Containerfile (buildah, offline; minutes)"
    image_archive=$demo_dir.image.tar
    bash test/image/build.sh "$image_archive"
  fi

  step "Starting the control plane, containerd and a real kubelet (node real-node)"
  /usr/bin/python3 test/cluster/real_node_cli.py up --dir "$demo_dir" --image-archive "$image_archive"
  kubectl="$demo_dir/kubectl"

  step "kubectl get nodes -o wide"
  "$kubectl" get nodes -o wide

  step "kubectl apply -k test/cluster/real_node_overlay   (manifests/ + image name, controller host network)"
  "$kubectl" apply -k test/cluster/real_node_overlay

  step "kubectl rollout status daemonset/jarvis-agent and deployment/jarvis-controller -n jarvis"
  "$kubectl" rollout status -n jarvis daemonset/jarvis-agent --timeout=300s
  "$kubectl" rollout status -n jarvis deployment/jarvis-controller --timeout=300s

  step "kubectl get pods,endpointslices -n jarvis -o wide"
  "$kubectl" get pods,endpointslices -n jarvis -o wide

  step "kubectl apply -f manifests/samples/v1_command.yaml"
  "$kubectl" apply -f manifests/samples/v1_command.yaml
  "$kubectl" wait -n jarvis command/command-sample --for=jsonpath='{.status.phase}'=Succeeded --timeout=180s >/dev/null \
    || "$kubectl" wait -n jarvis command/command-sample --for=jsonpath='{.status.phase}'=Failed --timeout=5s >/dev/null

  step "kubectl get command -n jarvis"
  "$kubectl" get command -n jarvis

  step "kubectl get events -n jarvis --field-selector involvedObject.name=command-sample"
  "$kubectl" get events -n jarvis --field-selector involvedObject.name=command-sample

  step "kubectl logs ds/jarvis-agent -n jarvis   (the agent's audit lines)"
  "$kubectl" logs ds/jarvis-agent -n jarvis

  step "kubectl get lease jarvis-controller -n jarvis   (which controller replica leads)"
  "$kubectl" get lease jarvis-controller -n jarvis
  leader_pod=$("$kubectl" get lease jarvis-controller -n jarvis -o jsonpath='{.spec.holderIdentity}')
  leader_pod=${leader_pod%_*}
  step "kubectl logs $leader_pod -n jarvis   (the leading controller)"
  "$kubectl" logs "$leader_pod" -n jarvis

  cat <<EOT

The real-node demo cluster is running. $demo_dir/kubectl is kubectl for it (the cluster lives in a network
namespace of its own):

  alias kubectl=$demo_dir/kubectl
  kubectl apply -f manifests/samples/uptime_workers.yaml
  kubectl describe command uptime-workers -n jarvis
  kubectl logs ds/jarvis-agent -n jarvis

Logs of kubelet, containerd and the control plane: $demo_dir/logs/
Stop everything: bash scripts/demo.sh --real-node down
EOT
  exit 0
fi

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
