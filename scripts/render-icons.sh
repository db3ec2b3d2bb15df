#!/usr/bin/env bash
# Renders the PNG icons from the SVG source (needs librsvg2-bin). The PNGs are committed so the
# build does not need rsvg-convert; rerun this after editing the SVG.
set -euo pipefail
cd "$(dirname "$0")/../resources/icons"
for size in 64 256; do
    mkdir -p "hicolor/${size}x${size}/apps"
    rsvg-convert -w "$size" -h "$size" softprompt-workbench.svg -o "hicolor/${size}x${size}/apps/io.softprompt.Workbench.png"
done
