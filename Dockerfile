# syntax=docker/dockerfile:1
# canaryd: a static binary in a minimal, non-root image.
#
#   docker build -t canaryd .
#   docker run --rm -p 8080:8080 \
#     -v "$PWD/config.toml:/etc/canaryd/config.toml:ro" \
#     -v canaryd-state:/var/lib/canaryd \
#     -e CANARYD_ADMIN_TOKEN=... canaryd
#
# In the container set [daemon] listen = "0.0.0.0:8080" and
# [store] path = "/var/lib/canaryd/canaryd.db".

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/canaryd ./cmd/canaryd \
 && mkdir -p /out/state

# distroless/static: CA certificates and tzdata, no shell, runs as nonroot (65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/canaryd /usr/local/bin/canaryd
COPY --from=build --chown=65532:65532 /out/state /var/lib/canaryd
USER 65532:65532
WORKDIR /var/lib/canaryd
VOLUME ["/var/lib/canaryd"]
EXPOSE 8080
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/canaryd"]
CMD ["run", "--config", "/etc/canaryd/config.toml"]
