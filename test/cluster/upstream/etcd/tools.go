//go:build tools

// Package tools only records, for `go mod tidy`, the upstream command this module builds.
package tools

import _ "go.etcd.io/etcd/server/v3"
