# mcpgate container image.
#
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" -t mcpgate .
#   docker run --read-only -p 8080:8080 -p 9090:9090 \
#     -v "$PWD/mcpgate.yaml:/etc/mcpgate/mcpgate.yaml:ro" -v mcpgate-data:/var/lib/mcpgate mcpgate
#
# The binary is static (CGO_ENABLED=0; the SQLite driver, modernc.org/sqlite, is pure Go), so
# the final stage is distroless "static": CA certificates, tzdata and /etc/passwd with the
# nonroot user (65532), no shell. See docs/operations.md.

# Both base images can be pointed at a mirror (--build-arg GO_IMAGE=registry.internal/golang:1.26).
ARG GO_IMAGE=golang:1.26
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
# Only what the binary is built from: tests, docs and deploy/ stay out of the layer
# (.dockerignore keeps them out of the context too).
COPY cmd ./cmd
COPY internal ./internal
# VERSION is what `mcpgate version` prints; the same variable `make build` leaves at "dev".
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/mcpgate/mcpgate/internal/cli.Version=${VERSION}" \
      -o /out/usr/local/bin/mcpgate ./cmd/mcpgate
# The data and config directories, owned by the nonroot user, so that a fresh volume mounted
# at /var/lib/mcpgate starts with the right owner (Docker copies the image's directory into an
# empty named volume; Kubernetes uses fsGroup instead).
RUN mkdir -p /out/var/lib/mcpgate /out/etc/mcpgate \
 && chown 65532:65532 /out/var/lib/mcpgate \
 && chmod 0750 /out/var/lib/mcpgate

FROM ${BASE_IMAGE}
ARG VERSION=dev
LABEL org.opencontainers.image.title="mcpgate" \
      org.opencontainers.image.description="MCP auth gateway" \
      org.opencontainers.image.source="https://github.com/mcpgate/mcpgate" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/ /
USER 65532:65532
# Relative store paths (the default SQLite file is ./mcpgate.db) land in the data volume.
WORKDIR /var/lib/mcpgate
VOLUME ["/var/lib/mcpgate"]
# 8080: the gateway (listen); 9090: the admin listener (health probes, metrics).
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/mcpgate"]
CMD ["serve", "--config", "/etc/mcpgate/mcpgate.yaml"]
