#!/usr/bin/env bash
# The test command (README): installs what the tests need on a Debian machine, then runs every test.
#
#   ./scripts/test.sh                 # as root: everything: lint, unit, property, lab and end-to-end tests
#   ./scripts/test.sh --no-install    # skip the apt step (packages already present)
#
# Lab tests (network namespaces, real arping/ndisc6/GoBGP/BIRD/FRR) need root. Under CI (CI=true) a lab test
# that cannot run fails loudly; elsewhere it is skipped with a visible reason.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(iproute2 arping ndisc6 tcpdump nftables gobgpd bird2 frr curl procps psmisc)
install=1
for arg in "$@"; do
  case "$arg" in
    --no-install) install=0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

step() { printf '\n==> %s\n' "$*"; }

if [ "$install" = 1 ]; then
  missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
      echo "missing Debian packages: ${missing[*]} (run as root to install them)" >&2
      [ "${CI:-}" = true ] && exit 1
    else
      step "installing Debian packages: ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
  fi
fi

# python3 -m venv needs Debian's python3-venv where python3 is Debian's own (a pyenv python has it built in).
if [ "$install" = 1 ] && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  step "installing Debian packages: python3-venv"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi

# The kubespray role's tests run ansible-playbook and ansible-lint from a virtualenv with pinned versions
# (target/ansible-venv, rebuilt only when scripts/ansible-requirements.txt changes). Without it those tests
# skip, and fail under CI=true.
step "ansible virtualenv (scripts/ansible-venv.sh)"
if ! scripts/ansible-venv.sh; then
  echo "could not create the ansible virtualenv (python3-venv, PyPI): the kubespray role tests will fail" >&2
  [ "${CI:-}" = true ] && exit 1
fi

# kubectl (used by the API-server and manifest tests) is not in Debian bookworm's archive; machines of this kind
# ship it. Say so early instead of failing deep inside a test.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "kubectl not found: the kubectl smoke and manifest tests will fail (install kubectl >= 1.28)" >&2
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (unit, property, API-server, lab and end-to-end tests)"
cargo test --workspace --locked --no-fail-fast

step "benches, smoke form (each bench binary's short pass; the full runs are by hand: docs/performance.md)"
cargo test --workspace --locked --benches

step "all tests passed"
