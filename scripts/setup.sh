#!/usr/bin/env bash
# Set up everything jupyter_speechcustom needs, from nothing; fast when re-run.
#   scripts/setup.sh          runtime: Debian build tools, CPU torch, the package and its Jupyter
#                             server extension, KenLM builders
#   scripts/setup.sh --test   also the test tools: Chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_VERSION=2.13.0

apt_packages=(build-essential cmake pkg-config libboost-program-options-dev libboost-system-dev
  libboost-thread-dev libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev libsndfile1)
if [[ "${1:-}" == "--test" ]]; then
  apt_packages+=(chromium)
fi

# 1. Debian packages (only the missing ones; apt-get needs root).
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: install them as root, then re-run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

# 2. CPU torch before NeMo: otherwise pip resolves a CUDA build with several GB of packages.
if ! "$PYTHON" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "setup: installing CPU torch $TORCH_VERSION"
  "$PYTHON" -m pip install -q "torch==$TORCH_VERSION"
fi

# 3. The package and its Python dependencies; skipped while pyproject.toml is unchanged.
stamp=".setup/pip-$(sha256sum pyproject.toml | cut -c1-16)"
if [[ ! -f $stamp ]] || ! "$PYTHON" -c "import jupyter_speechcustom, nemo, kenlm, pytest" 2>/dev/null; then
  echo "setup: installing jupyter_speechcustom and its dependencies (NeMo, KenLM, JupyterLab, ...)"
  "$PYTHON" -m pip install -q -e ".[test]"
  mkdir -p .setup && rm -f .setup/pip-* && touch "$stamp"
fi

# 4. The Jupyter server extension (the IBM Watson STT v1-compatible API), enabled in this Python's
#    environment so that `jupyter lab` and `jupyter server` serve it: a wheel install ships its
#    config file (pyproject.toml's data-files), an editable install does not. Written with
#    jupyter_server's own function, as `jupyter server extension enable --sys-prefix` would, but that
#    command (jupyter_server 2.21) refuses an extension no config file names yet, and exits 0.
#    Where sys.prefix is not writable (pip fell back to a user install), it is enabled for the user.
"$PYTHON" - <<'PY'
import os
import sys

from jupyter_server.extension.serverextension import toggle_server_extension_python

user = not os.access(sys.prefix, os.W_OK)
toggle_server_extension_python("jupyter_speechcustom", enabled=True, user=user, sys_prefix=not user)
print(f"setup: Jupyter server extension jupyter_speechcustom enabled ({'--user' if user else '--sys-prefix'})")
PY

# 5. KenLM's lmplz and build_binary, compiled from the kenlm sources into the user cache.
"$PYTHON" -m jupyter_speechcustom.cli setup
