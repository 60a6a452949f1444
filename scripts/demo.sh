#!/usr/bin/env bash
# The demo command (README): builds ferrolb-lab, ferrolb-controller and ferrolb-speaker in one release build
# (one dependency graph, so nothing is compiled twice), then runs `ferrolb-lab demo` as root with them.
#
#   ./scripts/demo.sh                 # as root; installs the Debian packages the lab needs when missing
#   ./scripts/demo.sh --no-install    # fail instead of installing missing packages
#
# `cargo run --release -p ferrolb-lab -- demo` does the same, building the two programs in a second step.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "the demo needs root (it creates network namespaces): run it as root, e.g. after sudo -i" >&2
  exit 1
fi
cargo build --release --locked -p ferrolb-lab -p ferrolb-controller -p ferrolb-speaker
# wherever cargo puts its target directory (CARGO_TARGET_DIR, build.target-dir, ...)
target=$(cargo metadata --no-deps --format-version 1 | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
exec "${target:-target}/release/ferrolb-lab" demo --no-build "$@"
