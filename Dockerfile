# syntax=docker/dockerfile:1
# pulse: one binary for the agent, the collector, the broker and the demo
# shop. Build: docker build -t pulse .   Run: docker run --rm pulse --help

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# --build-arg TAGS=agentonly builds the agent-only pulse, for node images.
ARG TAGS=""
RUN CGO_ENABLED=0 go build -tags "$TAGS" -trimpath -ldflags="-s -w" -o /out/pulse ./cmd/pulse

FROM debian:bookworm-slim
# Real Nagios plugins for nrpe checks beside pulse's native builtins, and
# CA certificates for probes against HTTPS sites.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates monitoring-plugins-basic \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/pulse /usr/local/bin/pulse
# nobody: pulse needs no privileges in a container, and the compose file's
# token files are owned by this uid.
USER 65534:65534
ENTRYPOINT ["pulse"]
CMD ["--help"]
