# syntax=docker/dockerfile:1
#
# One image, three binaries: `api`, `worker`, and `drill` (the rollout
# drill's load generator, for running against a cluster). The Deployment
# or compose service picks one with its command.
#
#   docker build -t graceful-rust:dev .
#
# cargo-chef builds the dependencies from a recipe of the manifests alone,
# so that editing the workspace's own code does not rebuild them.

ARG RUST_VERSION=1.94

FROM rust:${RUST_VERSION}-slim-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin api --bin worker --bin drill

# distroless/cc: glibc and libgcc, nothing else; no shell, so the
# Deployments use the native preStop sleep action rather than `sleep`.
# Debian 12 matches the builder's glibc.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
# checkov:skip=CKV_DOCKER_2:Health is probed over HTTP on the ops port by Kubernetes and compose users; the image has no shell or curl to run a HEALTHCHECK with.
COPY --from=builder /src/target/release/api /src/target/release/worker /src/target/release/drill /usr/local/bin/
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# api traffic, api ops, worker ops.
EXPOSE 8080 9090 9091
# Docker's default too, stated because the shutdown path depends on it:
# SIGTERM starts the graceful shutdown, SIGINT does the same, a third
# signal exits at once.
STOPSIGNAL SIGTERM
ENV LOG_FORMAT=json
CMD ["/usr/local/bin/api"]
