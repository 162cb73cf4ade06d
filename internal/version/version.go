// Package version holds netdoctor's version, set at link time with
// -ldflags "-X github.com/netdoctor/netdoctor/internal/version.Version=v1.2.3".
package version

import "runtime/debug"

// Version is the release version; "dev" for a build from a work tree.
var Version = "dev"

// String returns the version, falling back to the module version recorded by
// `go install module@version`.
func String() string {
	if Version != "dev" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return Version
}
