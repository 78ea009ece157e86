# syntax=docker/dockerfile:1
# canaryd: a static binary in a minimal, non-root image.
#
#   docker build -t canaryd --build-arg VERSION=$(git describe --always) .
#   docker run --rm -p 8080:8080 \
#     -v "$PWD/config.toml:/etc/canaryd/config.toml:ro" \
#     -v canaryd-state:/var/lib/canaryd \
#     -e CANARYD_ADMIN_TOKEN -e AWS_REGION canaryd
#
# The image listens on 0.0.0.0:8080 (CANARYD_LISTEN) whatever the config
# says, keeps the bolt store in /var/lib/canaryd (the working directory),
# and checks its own health with `canaryd healthcheck` (there is no shell).
# --config also takes s3://bucket/key or ssm:PARAMETER (ECS Fargate: see
# deploy/terraform).
#
# Base images are pinned by digest; to move to newer ones:
#   docker buildx imagetools inspect golang:1.26-bookworm         (or: crane digest ...)
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot
# go.mod's go line wins over the builder's Go (GOTOOLCHAIN=auto).

ARG GO_IMAGE=golang:1.26-bookworm@sha256:9fdc884aacc3bec89b20ffc69f4bb369c78210e3e4f600387b5128b12c199f81
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab

FROM ${GO_IMAGE} AS build
ENV GOTOOLCHAIN=auto CGO_ENABLED=0 GOOS=linux
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/canaryd ./cmd/canaryd \
 && mkdir -p /out/state

# distroless/static: CA certificates and tzdata, no shell, runs as nonroot (65532).
FROM ${RUNTIME_IMAGE}
COPY --from=build /out/canaryd /usr/local/bin/canaryd
COPY --from=build --chown=65532:65532 /out/state /var/lib/canaryd
USER 65532:65532
WORKDIR /var/lib/canaryd
VOLUME ["/var/lib/canaryd"]
ENV CANARYD_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/canaryd", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/canaryd"]
CMD ["run", "--config", "/etc/canaryd/config.toml"]
