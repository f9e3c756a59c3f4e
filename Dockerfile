# syntax=docker/dockerfile:1
#
# One image for every role: `firebreak run --roles <role>` picks what a container does.
#
#   docker build -t firebreak:dev .
#   docker run --rm -p 8080:8080 -p 50051:50051 firebreak:dev          # embedded bus + store
#   docker run --rm firebreak:dev run --roles ingest --nats-url nats://nats:4222 ...
#
# Stages: `chef` (toolchain + cargo-chef), `planner` (dependency recipe from the
# manifests), `builder` (dependencies first, cached until Cargo.toml/Cargo.lock change,
# then the workspace), `runtime` (slim, non-root, just the binary).

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS chef
RUN cargo install cargo-chef --locked --version ^0.1
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# Dependencies only: this layer is rebuilt when the recipe (manifests, lock file) changes,
# not when the sources do.
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release -p firebreak --recipe-path recipe.json
# The workspace: protoc is vendored (protoc-bin-vendored), so no system protobuf needed.
COPY . .
RUN cargo build --release --locked -p firebreak \
 && install -D -m 0755 target/release/firebreak /out/firebreak

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# ca-certificates: TLS to platform APIs, the outbound webhook and the OTLP collector.
# coreutils (already in the base) provides /bin/sleep for the Kubernetes preStop hook.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 firebreak \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin firebreak
COPY --from=builder /out/firebreak /usr/local/bin/firebreak
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
# HTTP: API, webhooks, /healthz, /readyz, /metrics, /console.  gRPC: services, health, reflection.
EXPOSE 8080 50051
ENV FIREBREAK_LOG_FORMAT=json
# Container output goes to shipped logs: without a tokens file (FIREBREAK_TOKENS_FILE,
# as k8s/ mounts it) the generated tokens are not printed, only a warning naming none.
ENV FIREBREAK_HIDE_GENERATED_TOKENS=true
# The binary handles SIGTERM itself (readiness goes false, in-flight work drains within
# --shutdown-grace-secs), so it runs as PID 1 without an init.
ENTRYPOINT ["firebreak"]
CMD ["run"]
