#!/usr/bin/env bash
# Idempotent set-up for `make demo` / `make test` on Debian 12 / 64-bit Raspberry Pi OS.
#   scripts/bootstrap.sh runtime   system packages the agent needs + .venv from locks/runtime.txt
#   scripts/bootstrap.sh dev       the same plus test tools (PostgreSQL, promtool) + .venv from locks/dev.txt
# Fast when already done: it checks before it installs.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-dev}

# Debian package -> a file that proves it is installed.
declare -A probe=(
  [mosquitto]=/usr/sbin/mosquitto
  [libzbar0]=/usr/lib/$(uname -m)-linux-gnu/libzbar.so.0
  [fonts-dejavu-core]=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
  # The camera simulator's plate faces (simulators/camera/fonts.py WORLD_FONTS).
  [fonts-liberation]=/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf
  [fonts-croscore]=/usr/share/fonts/truetype/croscore/Arimo-Bold.ttf
  [fonts-freefont-ttf]=/usr/share/fonts/truetype/freefont/FreeSans.ttf
  [fonts-ocr-b]=/usr/share/fonts/opentype/ocr-b/OCRB.otf
)
if [ "$mode" = dev ]; then
  probe[postgresql]=/usr/lib/postgresql
  # promtool checks and unit-tests the shipped alert rules (tests/e2e/test_ops_metrics.py)
  probe[prometheus]=/usr/bin/promtool
  # Plain tesseract is the camera benchmark's OCR baseline (pytesseract); the agent's
  # VIN OCR is PP-OCR from the rapidocr wheel and needs no system package.
  probe[tesseract-ocr]=/usr/bin/tesseract
  probe[tesseract-ocr-eng]=/usr/share/tesseract-ocr/5/tessdata/eng.traineddata
  # The bay screen's browser tests drive Debian's Chromium through Playwright
  # (executable_path; Playwright never downloads a browser here).
  probe[chromium]=/usr/bin/chromium
fi
missing=()
for pkg in "${!probe[@]}"; do
  [ -e "${probe[$pkg]}" ] || missing+=("$pkg")
done
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then missing+=(python3-venv); fi

if [ ${#missing[@]} -gt 0 ]; then
  cmd="apt-get install -y --no-install-recommends ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    echo "bootstrap: installing system packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $cmd >/dev/null
  else
    echo "bootstrap: missing system packages: ${missing[*]}" >&2
    echo "bootstrap: run: sudo $cmd" >&2
    exit 1
  fi
fi

lock=locks/$mode.txt
stamp=.venv/.baygate-$mode.stamp
want=$(cat "$lock" pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "bootstrap: creating .venv from $lock"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r "$lock" 2>&1 | { grep -v "is ignored: it is neither" || true; }
# The project itself, editable, without touching the locked set.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
rm -f .venv/.baygate-*.stamp
echo "$want" > "$stamp"
