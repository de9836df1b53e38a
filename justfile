# Thin recipes over `cargo xtask` and the tools; `just` lists them.
# Installed with `pip install rust-just` or `cargo install just`.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes.
default:
    @just --list

# Run api and worker against a PostgreSQL under target/dev-pg; Ctrl-C stops all.
dev:
    cargo xtask dev

# Run every test against a throwaway PostgreSQL (or DATABASE_URL); extra args go to nextest.
test *args:
    cargo xtask test {{ args }}

# What CI runs: fmt, clippy, tests, then the offline deploy checks.
ci:
    cargo xtask ci
    bash .ci/deploy-checks.sh

# The rolling-restart drill against a throwaway PostgreSQL.
drill *args:
    cargo xtask drill {{ args }}

# Format the workspace.
fmt:
    cargo fmt --all

# fmt --check and clippy with warnings denied.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets -- -D warnings

# Apply the migrations to DATABASE_URL.
migrate:
    cargo run --quiet -p api -- migrate

# Start the compose stack (PostgreSQL, migrations, api, worker, collector, Prometheus, Grafana).
up:
    docker compose up -d --build

# Stop the compose stack; each service drains within its stop_grace_period.
down:
    docker compose down

# Validate the manifests, image, compose file, alerts and shutdown budgets offline.
k8s-validate:
    bash .ci/deploy-checks.sh

# Build the container image (api, worker and drill).
image tag="graceful-rust:dev":
    docker build -t {{ tag }} .
