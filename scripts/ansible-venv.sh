#!/usr/bin/env bash
# Creates (or reuses) the Python virtualenv the kubespray role's tests run ansible-playbook and ansible-lint
# from: target/ansible-venv, with exactly scripts/ansible-requirements.txt from PyPI. Reruns take a second:
# the venv is rebuilt only when the requirements file changed.
#
#   scripts/ansible-venv.sh            # prints the venv's path
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${FERROLB_ANSIBLE_VENV:-target/ansible-venv}
req=scripts/ansible-requirements.txt
stamp="$venv/.requirements"
if [ -x "$venv/bin/ansible-playbook" ] && cmp -s "$req" "$stamp"; then
  echo "$venv"
  exit 0
fi
rm -rf "$venv"
mkdir -p "$(dirname "$venv")"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
cp "$req" "$stamp"
echo "$venv"
