# The initbox image: one static binary, nothing else.
#
#   docker build -t initbox .
#   docker build -t initbox --build-arg COMMIT=$(git rev-parse --short=12 HEAD) .
#
# Put it in your own image as its init (see docs/docker.md):
#
#   FROM initbox AS init
#   FROM debian:bookworm-slim
#   COPY --from=init /initbox /initbox
#   ENTRYPOINT ["/initbox", "--"]
#   CMD ["/usr/local/bin/my-server", "--port", "8080"]
#
# tests/docker builds its image from the final stage below, with the locally
# built binary in place of the build stage: keep that stage to FROM scratch,
# COPY --from=<build stage> /initbox /initbox and the image settings.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# VERSION and COMMIT show in `initbox version` and in the `--version` line
# that `docker info` parses; the defaults are the source's own.
ARG VERSION=0.1.0-dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -E github.com/initbox/initbox/signals.entry -X main.version=${VERSION} -X main.commit=${COMMIT}" \
        -o /initbox ./cmd/initbox

FROM scratch
COPY --from=build /initbox /initbox
ENTRYPOINT ["/initbox", "--"]
