#!/usr/bin/env bash
# Installs the Debian packages that the embedded stack (and, with --tests, its tests) need; does nothing when all are present.
# `--image`: only the libraries the stack's processes load, for the container images (deploy/docker).
set -euo pipefail

packages=(fluidsynth fluid-soundfont-gm timgm6mb-soundfont libsndfile1)
# Plugin instruments (renderers.plugin_host) and the LV2 host library: mda (Piano, ePiano, JX10, DX10), setBfree
# (organ), avldrums (drum kits), ZynAddSubFX (LV2 and VST2), ~64 MB in all; libfaketime shows plugins a clock that
# stands still, so that setBfree (which seeds its key clicks from the time) renders the same samples every time.
packages+=(liblilv-0-0 mda-lv2 setbfree avldrums.lv2 zynaddsubfx-lv2 zynaddsubfx-vst libfaketime)
if [ "${1:-}" != "--image" ]; then
  # PostgreSQL 15 for the library: deploy/postgres.py runs a cluster of the stack's own (not Debian's service).
  packages+=(redis-server postgresql)
  command -v npm >/dev/null || packages+=(npm)
  # The Kubernetes manifests' tests render them with `kubectl kustomize` (no cluster needed).
  packages+=(kubectl)
fi
# `--tests`: what only the tests need: Ardour (headless ardour7-lua, the GUI under Xvfb) for the DAW integration.
[ "${1:-}" = "--tests" ] && packages+=(ardour xvfb xauth x11-utils imagemagick)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo
echo "installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq

# kubectl is not in Debian: where no apt source offers it (Google Cloud's does), add the Kubernetes project's own,
# at the client version the tests validate against (1.32).
if [[ " ${missing[*]} " == *" kubectl "* ]] && ! apt-cache policy kubectl | grep -q "Candidate: [0-9]"; then
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends ca-certificates curl gpg >/dev/null
  $sudo mkdir -p /etc/apt/keyrings
  curl -fsSL https://pkgs.k8s.io/core:/stable:/v1.32/deb/Release.key \
    | $sudo gpg --dearmor --yes -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg
  echo "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v1.32/deb/ /" \
    | $sudo tee /etc/apt/sources.list.d/kubernetes.list >/dev/null
  $sudo apt-get update -qq
fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
