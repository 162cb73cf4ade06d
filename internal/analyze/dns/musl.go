package dns

import (
	"strings"
)

// muslImage reports whether an image reference names a musl-based image,
// and why: Alpine (the alpine image, or an "alpine" tag or variant such as
// python:3.12-alpine or nginx:1.27-alpine-slim) or a reference that says
// musl. It reads the reference only: an image built FROM alpine under
// another name is not seen.
func muslImage(ref string) (bool, string) {
	r := strings.ToLower(ref)
	if i := strings.Index(r, "@"); i >= 0 {
		r = r[:i]
	}
	repo, tag := r, ""
	if i := strings.LastIndex(r, ":"); i > strings.LastIndex(r, "/") {
		repo, tag = r[:i], r[i+1:]
	}
	last := repo
	if i := strings.LastIndex(repo, "/"); i >= 0 {
		last = repo[i+1:]
	}
	switch {
	case last == "alpine" || strings.HasPrefix(last, "alpine-") || strings.HasSuffix(last, "-alpine"):
		return true, "image " + ref + " is Alpine (musl libc)"
	case tag == "alpine" || strings.Contains(tag, "-alpine") || strings.HasPrefix(tag, "alpine"):
		return true, "image tag of " + ref + " is an Alpine variant (musl libc)"
	case strings.Contains(last, "musl") || strings.Contains(tag, "musl"):
		return true, "image " + ref + " is built with musl libc"
	}
	return false, ""
}
