#!/usr/bin/env bash
# Baygate release manager for fleet Pis: install, upgrade, rollback — health-gated.
#
#   baygate-release.sh install WHEELHOUSE     first install (creates the user, unit, dirs)
#   baygate-release.sh upgrade WHEELHOUSE     new release; rolls back automatically if unhealthy
#   baygate-release.sh rollback               switch back to the previous release
#   baygate-release.sh status                 current and kept releases
#
# WHEELHOUSE is a directory with requirements.txt (pinned, with hashes: locks/runtime.txt)
# and the wheels it names plus baygate-VERSION-py3-none-any.whl. Nothing is fetched from
# the network: `pip install --no-index --require-hashes` from the wheelhouse only.
#
# Layout: /opt/baygate/releases/VERSION/ (one venv each), /opt/baygate/current -> releases/V
# switched atomically (rename of a symlink). The last KEEP releases are kept.
# Environment overrides (used by the tests; defaults are the production paths):
#   BAYGATE_ROOT=/  SYSTEMCTL=systemctl  HEALTH_URL=http://127.0.0.1:9310/health
#   HEALTH_TIMEOUT_S=60  KEEP=3  PYTHON=python3
set -euo pipefail
shopt -s inherit_errexit  # a failing pip inside $(build_release) must stop us

ROOT=${BAYGATE_ROOT:-/}
OPT="${ROOT%/}/opt/baygate"
UNIT_DIR="${ROOT%/}/etc/systemd/system"
SYSTEMCTL=${SYSTEMCTL:-systemctl}
HEALTH_URL=${HEALTH_URL:-http://127.0.0.1:9310/health}
HEALTH_TIMEOUT_S=${HEALTH_TIMEOUT_S:-60}
KEEP=${KEEP:-3}
PYTHON=${PYTHON:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)

die() { echo "baygate-release: $*" >&2; exit 1; }
say() { echo "baygate-release: $*"; }

current() { [ -L "$OPT/current" ] && basename "$(readlink "$OPT/current")" || true; }

switch_to() {  # atomic: a new symlink renamed over the old one
  ln -sfn "releases/$1" "$OPT/current.new"
  mv -T "$OPT/current.new" "$OPT/current"
}

healthy() {  # the unit reached READY (active) and /health answers 200 within the timeout
  local deadline=$((SECONDS + HEALTH_TIMEOUT_S))
  while [ $SECONDS -lt $deadline ]; do
    if "$SYSTEMCTL" is-active --quiet baygate.service &&
       "$PYTHON" - "$HEALTH_URL" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
    then return 0; fi
    sleep 1
  done
  return 1
}

build_release() {  # WHEELHOUSE -> prints the version it installed
  local wh=$1 whl ver dir
  [ -f "$wh/requirements.txt" ] || die "$wh/requirements.txt missing (copy locks/runtime.txt)"
  whl=$(ls "$wh"/baygate-*-py3-none-any.whl 2>/dev/null | sort -V | tail -n1)
  [ -n "$whl" ] || die "no baygate-*.whl in $wh"
  ver=$(basename "$whl" | cut -d- -f2)
  dir="$OPT/releases/$ver"
  [ -e "$dir" ] && die "release $ver already installed at $dir"
  mkdir -p "$OPT/releases"
  "$PYTHON" -m venv "$dir.partial"
  "$dir.partial/bin/pip" install -q --no-index --find-links "$wh" --require-hashes -r "$wh/requirements.txt"
  "$dir.partial/bin/pip" install -q --no-index --no-deps "$whl"
  mv "$dir.partial" "$dir"   # only complete releases carry a version name
  echo "$ver"
}

prune() {
  local keep=() r cur
  cur=$(current)
  mapfile -t keep < <(ls -1 "$OPT/releases" | grep -v '\.partial$' | sort -V | tail -n "$KEEP")
  for r in $(ls -1 "$OPT/releases"); do
    [[ " ${keep[*]} $cur " == *" $r "* ]] || { say "removing old release $r"; rm -rf "${OPT:?}/releases/$r"; }
  done
}

install_unit() {
  mkdir -p "$UNIT_DIR"
  install -m 0644 "$HERE/baygate.service" "$UNIT_DIR/baygate.service"
  "$SYSTEMCTL" daemon-reload
}

cmd_install() {
  if [ "$ROOT" = / ] && ! id baygate >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/baygate --shell /usr/sbin/nologin \
      --groups video,dialout,bluetooth baygate
  fi
  local ver; ver=$(build_release "$1")
  switch_to "$ver"
  install_unit
  "$SYSTEMCTL" enable --now baygate.service
  healthy || die "release $ver installed but not healthy: journalctl -u baygate"
  say "installed $ver"
}

cmd_upgrade() {
  local prev ver
  prev=$(current)
  [ -n "$prev" ] || die "nothing installed yet: use install"
  ver=$(build_release "$1")
  switch_to "$ver"
  install_unit
  "$SYSTEMCTL" restart baygate.service
  if healthy; then
    say "upgraded $prev -> $ver"
    prune
  else
    say "release $ver unhealthy: rolling back to $prev"
    switch_to "$prev"
    "$SYSTEMCTL" restart baygate.service
    healthy || die "rollback to $prev is not healthy either: journalctl -u baygate"
    die "upgrade to $ver failed; running $prev again"
  fi
}

cmd_rollback() {
  local cur prev
  cur=$(current)
  prev=$(ls -1 "$OPT/releases" | grep -v '\.partial$' | sort -V | grep -vx "$cur" | tail -n1 || true)
  [ -n "$prev" ] || die "no previous release to roll back to"
  switch_to "$prev"
  "$SYSTEMCTL" restart baygate.service
  healthy || die "rolled back to $prev but it is not healthy"
  say "rolled back $cur -> $prev"
}

case "${1:-}" in
  install) [ $# -eq 2 ] || die "usage: $0 install WHEELHOUSE"; cmd_install "$2" ;;
  upgrade) [ $# -eq 2 ] || die "usage: $0 upgrade WHEELHOUSE"; cmd_upgrade "$2" ;;
  rollback) cmd_rollback ;;
  status) echo "current: $(current)"; ls -1 "$OPT/releases" 2>/dev/null | sed 's/^/kept: /' ;;
  *) die "usage: $0 install WHEELHOUSE | upgrade WHEELHOUSE | rollback | status" ;;
esac
