#!/usr/bin/env bash
# Set up this study on a fresh Debian/Ubuntu machine with Python 3.11:
#   Debian packages (the offline Fashion-MNIST; with --tests also a single-node SLURM and
#   headless Chromium for the explorer's browser tests),
#   a virtual environment in .venv with the pinned requirements and this package.
# Usage: bash tools/setup.sh [--tests]
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
[[ "${1:-}" == "--tests" ]] && with_tests=1

apt_packages=(dataset-fashion-mnist)
((with_tests)) && apt_packages+=(slurmctld slurmd slurm-client munge chromium chromium-driver)

missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "setup: installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q --no-deps -e .
echo "setup: done (.venv ready)"
