// Package e2e holds netdoctor's end-to-end tests, run against the lab
// (internal/lab) with `go test -tags e2e ./e2e/` as root (make e2e). TestMain
// brings one lab up for the whole package, or reuses one that `ndlab up`
// started, and builds the netdoctor binary once; see docs/lab.md for the
// helpers tests use.
package e2e
