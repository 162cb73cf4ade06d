package dns

import "testing"

func TestMuslImage(t *testing.T) {
	tests := []struct {
		ref  string
		want bool
	}{
		{"alpine", true},
		{"alpine:3.14", true},
		{"docker.io/library/alpine:3.17.2", true},
		{"python:3.12-alpine", true},
		{"nginx:1.27-alpine-slim", true},
		{"node:20-alpine3.19", true},
		{"golang:alpine", true},
		{"ghcr.io/org/app-alpine:v1", true},
		{"busybox:1.36-musl", true},
		{"registry.local:5000/alpine:3.18", true},
		{"alpine@sha256:0123456789abcdef", true},
		{"debian:bookworm-slim", false},
		{"nginx:1.27", false},
		{"gcr.io/distroless/static:nonroot", false},
		{"registry.local:5000/team/api:1.0", false},
		{"mcr.microsoft.com/oss/kubernetes/coredns:v1.11.3", false},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, why := muslImage(tt.ref)
			if got != tt.want {
				t.Errorf("muslImage(%q) = %v (%s), want %v", tt.ref, got, why, tt.want)
			}
		})
	}
}
