#!/usr/bin/env bash
# Installs the Debian packages that the embedded stack (and, with --tests, its tests) need; does nothing when all are present.
set -euo pipefail

packages=(redis-server fluidsynth fluid-soundfont-gm timgm6mb-soundfont libsndfile1)
# Plugin instruments (renderers.plugin_host) and the LV2 host library: mda (Piano, ePiano, JX10, DX10), setBfree
# (organ), avldrums (drum kits), ZynAddSubFX (LV2 and VST2), ~64 MB in all; libfaketime shows plugins a clock that
# stands still, so that setBfree (which seeds its key clicks from the time) renders the same samples every time.
packages+=(liblilv-0-0 mda-lv2 setbfree avldrums.lv2 zynaddsubfx-lv2 zynaddsubfx-vst libfaketime)
command -v npm >/dev/null || packages+=(npm)
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
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
