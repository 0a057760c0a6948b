//go:build tools

// Package tools only records, for `go mod tidy`, the upstream node and control-loop programs this module builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
