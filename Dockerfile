# netdoctor's agent image: a small Debian with the tools the node view uses
# (iptables, conntrack, iproute2, nsenter and dmesg from util-linux) and the
# static netdoctor binary. The same binary is the CLI.
#
#   docker build --build-arg VERSION=v0.1.0 -t ghcr.io/netdoctor/netdoctor:v0.1.0 .
#
# For a private or air-gapped registry, push this image there and pass
# --image REGISTRY/netdoctor:TAG (and --image-pull-secret NAME if needed).

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY internal ./internal
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/netdoctor/netdoctor/internal/version.Version=${VERSION}" \
      -o /out/netdoctor ./cmd/netdoctor

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables conntrack iproute2 util-linux ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/netdoctor /usr/local/bin/netdoctor
USER 0
ENTRYPOINT ["netdoctor"]
CMD ["agent"]
