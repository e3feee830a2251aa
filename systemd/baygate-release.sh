#!/usr/bin/env bash
# Baygate release manager for fleet Pis: install, upgrade, rollback — health-gated.
#
#   baygate-release.sh install WHEELHOUSE     first install (user, /etc/baygate, unit, release)
#   baygate-release.sh upgrade WHEELHOUSE     new release; rolls back automatically if unhealthy
#   baygate-release.sh rollback               switch back to the previous release
#   baygate-release.sh status                 current and kept releases
#   baygate-release.sh apply-request STATE_DIR   the upgrade the agent staged (run by
#                                             baygate-upgrade.service, as root)
#
# WHEELHOUSE is a directory with requirements.txt (pinned, with hashes: locks/runtime.txt)
# and the wheels it names plus baygate-VERSION-py3-none-any.whl. Nothing is fetched from
# the network: `pip install --no-index --require-hashes` from the wheelhouse only.
#
# Layout: /opt/baygate/releases/VERSION/ (one venv each), /opt/baygate/current -> releases/V
# switched atomically (rename of a symlink). The last KEEP releases are kept.
# A venv is built where it will run: its scripts' shebangs name its own path, so a venv
# built elsewhere and renamed cannot start ("required file not found"). While it is being
# built it carries the file .incomplete; such a directory is never switched to, is not a
# "kept" release, and is removed by the next build of that version.
#
# /health is read at [api] bind/port of /etc/baygate/agent.toml (default 127.0.0.1:9310).
# apply-request: the agent (unprivileged) stages a release the backend ordered under
# STATE_DIR/upgrades/VERSION/ and writes STATE_DIR/upgrades/request ({"id", "version"});
# baygate-upgrade.path starts baygate-upgrade.service, which runs this. The directory is
# derived from the validated version, never taken from the agent; the outcome goes to
# STATE_DIR/upgrades/result.json (ok, rolled_back or failed, with the output's tail),
# written without following links (the directory is the agent's).
#
# Environment overrides (used by the tests; defaults are the production paths):
#   BAYGATE_ROOT=/  SYSTEMCTL=systemctl  USERADD=useradd  HEALTH_URL=(from the config)
#   HEALTH_TIMEOUT_S=60  KEEP=3  PYTHON=python3
set -euo pipefail
shopt -s inherit_errexit  # a failing pip inside $(build_release) must stop us

ROOT=${BAYGATE_ROOT:-/}
OPT="${ROOT%/}/opt/baygate"
ETC="${ROOT%/}/etc/baygate"
UNIT_DIR="${ROOT%/}/etc/systemd/system"
SYSTEMCTL=${SYSTEMCTL:-systemctl}
HEALTH_TIMEOUT_S=${HEALTH_TIMEOUT_S:-60}
KEEP=${KEEP:-3}
PYTHON=${PYTHON:-python3}
HERE=$(cd "$(dirname "$0")" && pwd)
LIBEXEC="$OPT/libexec"  # this script and the units, where baygate-upgrade.service finds them
INCOMPLETE=.incomplete

die() { echo "baygate-release: $*" >&2; exit 1; }
say() { echo "baygate-release: $*"; }

current() { [ -L "$OPT/current" ] && basename "$(readlink "$OPT/current")" || true; }

releases() {  # complete releases, oldest first
  local r
  [ -d "$OPT/releases" ] || return 0
  for r in $(ls -1 "$OPT/releases" | sort -V); do
    [ -e "$OPT/releases/$r/$INCOMPLETE" ] || echo "$r"
  done
}

switch_to() {  # atomic: a new symlink renamed over the old one
  ln -sfn "releases/$1" "$OPT/current.new"
  mv -T "$OPT/current.new" "$OPT/current"
}

health_url() {  # where the agent serves /health: [api] of the installed config
  if [ -n "${HEALTH_URL:-}" ]; then echo "$HEALTH_URL"; return; fi
  "$PYTHON" - "$ETC/agent.toml" <<'PY'
import sys, tomllib
try:
    with open(sys.argv[1], "rb") as f:
        api = tomllib.load(f).get("api", {})
except (OSError, tomllib.TOMLDecodeError):
    api = {}
host = str(api.get("bind", "127.0.0.1"))
host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
host = f"[{host}]" if ":" in host else host
print(f"http://{host}:{int(api.get('port', 9310))}/health")
PY
}

healthy() {  # the unit reached READY (active) and /health answers 200 within the timeout
  local deadline=$((SECONDS + HEALTH_TIMEOUT_S)) url
  url=$(health_url)
  while [ $SECONDS -lt $deadline ]; do
    if "$SYSTEMCTL" is-active --quiet baygate.service &&
       "$PYTHON" - "$url" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
    then return 0; fi
    sleep 1
  done
  say "no healthy answer from $url within ${HEALTH_TIMEOUT_S}s" >&2
  return 1
}

build_release() {  # WHEELHOUSE -> prints the version it installed
  local wh=$1 whl ver dir
  [ -f "$wh/requirements.txt" ] || die "$wh/requirements.txt missing (copy locks/runtime.txt)"
  whl=$(ls "$wh"/baygate-*-py3-none-any.whl 2>/dev/null | sort -V | tail -n1)
  [ -n "$whl" ] || die "no baygate-*.whl in $wh"
  ver=$(basename "$whl" | cut -d- -f2)
  dir="$OPT/releases/$ver"
  if [ -e "$dir/$INCOMPLETE" ]; then
    say "removing an incomplete build of $ver" >&2
    rm -rf "$dir"
  fi
  [ -e "$dir" ] && die "release $ver already installed at $dir"
  mkdir -p "$dir"
  touch "$dir/$INCOMPLETE"
  "$PYTHON" -m venv "$dir" >&2
  # --only-binary: root never runs a package's build code (a wheelhouse holds wheels).
  "$dir/bin/pip" install -q --disable-pip-version-check --no-index --only-binary :all: \
    --find-links "$wh" --require-hashes -r "$wh/requirements.txt" >&2
  "$dir/bin/pip" install -q --disable-pip-version-check --no-index --only-binary :all: \
    --no-deps "$whl" >&2
  rm "$dir/$INCOMPLETE"  # only now is it a release
  echo "$ver"
}

prune() {
  local keep=() r cur
  cur=$(current)
  mapfile -t keep < <(releases | tail -n "$KEEP")
  for r in $(releases); do
    [[ " ${keep[*]} $cur " == *" $r "* ]] || { say "removing old release $r"; rm -rf "${OPT:?}/releases/$r"; }
  done
}

UNITS="baygate.service baygate-upgrade.service baygate-upgrade.path"

install_unit() {  # the units, and this script where baygate-upgrade.service runs it
  local u
  mkdir -p "$UNIT_DIR" "$LIBEXEC"
  if [ "$HERE" != "$LIBEXEC" ]; then  # not when run from there (by the upgrade unit)
    install -m 0755 "$HERE/baygate-release.sh" "$LIBEXEC/baygate-release.sh"
    for u in $UNITS; do install -m 0644 "$HERE/$u" "$LIBEXEC/$u"; done
  fi
  for u in $UNITS; do install -m 0644 "$LIBEXEC/$u" "$UNIT_DIR/$u"; done
  "$SYSTEMCTL" daemon-reload
  "$SYSTEMCTL" enable --now baygate-upgrade.path || say "baygate-upgrade.path did not start" >&2
}

create_user() {  # the unit runs as baygate with video, dialout and bluetooth
  local groups=() g
  id baygate >/dev/null 2>&1 && return 0
  for g in video dialout bluetooth; do
    if getent group "$g" >/dev/null 2>&1; then groups+=("$g")
    else say "group $g does not exist (is bluez installed?): user baygate created without it"
    fi
  done
  "${USERADD:-useradd}" --system --home-dir /var/lib/baygate --shell /usr/sbin/nologin \
    ${groups:+--groups "$(IFS=,; echo "${groups[*]}")"} baygate
}

create_etc() {  # what the unit reads; an admin's existing files are never overwritten
  local defaults=$1 f
  mkdir -p "$ETC/manufacturers"
  [ -e "$ETC/agent.toml" ] || { install -m 0640 "$defaults/agent.example.toml" "$ETC/agent.toml"
                                say "created $ETC/agent.toml from the shipped example: edit it"; }
  for f in "$defaults"/manufacturers/*.toml; do
    [ -e "$ETC/manufacturers/$(basename "$f")" ] || install -m 0644 "$f" "$ETC/manufacturers/"
  done
  # LoadCredential= needs the file to exist (an empty one is fine without a password).
  install -d -m 0700 "$ETC/credentials"
  [ -e "$ETC/credentials/mqtt-password" ] || install -m 0600 /dev/null "$ETC/credentials/mqtt-password"
  if [ "$ROOT" = / ] && id baygate >/dev/null 2>&1; then chgrp baygate "$ETC/agent.toml"; fi
}

defaults_of() {  # the shipped config inside a release venv (package data of agent/)
  local d
  d=$(ls -d "$OPT/releases/$1"/lib/python3*/site-packages/agent/defaults 2>/dev/null | head -n1)
  [ -n "$d" ] && [ -f "$d/agent.example.toml" ] || die "release $1 carries no agent/defaults/agent.example.toml"
  echo "$d"
}

cmd_install() {
  if [ "$ROOT" = / ] || [ -n "${USERADD:-}" ]; then create_user; fi
  local ver; ver=$(build_release "$1")
  create_etc "$(defaults_of "$ver")"
  switch_to "$ver"
  install_unit
  "$SYSTEMCTL" enable --now baygate.service || say "baygate.service did not start" >&2
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
  # Type=notify: a release that never reaches READY makes restart fail; judge by health.
  "$SYSTEMCTL" restart baygate.service || say "release $ver did not start" >&2
  if healthy; then
    say "upgraded $prev -> $ver"
    prune
  else
    say "release $ver unhealthy: rolling back to $prev"
    switch_to "$prev"
    "$SYSTEMCTL" restart baygate.service || true
    healthy || die "rollback to $prev is not healthy either: journalctl -u baygate"
    die "upgrade to $ver failed; running $prev again"
  fi
}

cmd_rollback() {
  local cur prev
  cur=$(current)
  # the newest release older than the current one (a newer one is likely what failed)
  prev=$(releases | awk -v cur="$cur" '$0 == cur { exit } { print }' | tail -n1)
  [ -n "$prev" ] || die "no previous release to roll back to"
  switch_to "$prev"
  "$SYSTEMCTL" restart baygate.service || true
  healthy || die "rolled back to $prev but it is not healthy"
  say "rolled back $cur -> $prev"
}

request_fields() {  # STATE/upgrades/request.taken -> "ID VERSION", validated; nothing if bad
  "$PYTHON" - "$1" <<'PY'
import json, os, re, sys
try:
    fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        body = json.loads(f.read(4096))
    rid, ver = body["id"], body["version"]
except (OSError, ValueError, KeyError, TypeError):
    sys.exit(1)
if not (isinstance(rid, str) and re.fullmatch(r"[0-9a-f]{16}", rid)
        and isinstance(ver, str) and re.fullmatch(r"[0-9][0-9A-Za-z.+_]{0,63}", ver)):
    sys.exit(1)
print(rid, ver)
PY
}

write_result() {  # DIR ID VERSION STATUS FROM LOG: result.json, atomic, links not followed
  "$PYTHON" - "$@" "$(current)" <<'PY'
import json, os, sys, tempfile, time
d, rid, ver, status, prev, log, running = sys.argv[1:8]
with open(log, encoding="utf-8", errors="replace") as f:
    tail = f.read().splitlines()[-30:]
body = {"id": rid, "version": ver, "status": status, "from": prev, "running": running,
        "detail": "\n".join(tail), "finished": round(time.time(), 3)}
fd, tmp = tempfile.mkstemp(dir=d, prefix=".result.")  # O_EXCL: never an existing link
with os.fdopen(fd, "w") as f:
    os.fchmod(f.fileno(), 0o644)  # the agent reads it
    json.dump(body, f, sort_keys=True)
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, os.path.join(d, "result.json"))
PY
}

cmd_apply_request() {
  local up="$1/upgrades" fields id ver prev status log
  [ -f "$up/request" ] || { say "no upgrade request in $up"; return 0; }
  mv -f "$up/request" "$up/request.taken"  # taken: the path unit must not start us again
  # request.taken is "under way" for the agent (it accepts no other order): never leave it.
  fields=$(request_fields "$up/request.taken") || { rm -f "$up/request.taken"; die "unreadable upgrade request in $up"; }
  read -r id ver <<<"$fields"
  prev=$(current)
  log=$(mktemp)
  say "upgrade $id: $prev -> $ver from $up/$ver"
  # A separate process: its own errexit (inside `if`, bash would ignore set -e).
  if bash "$HERE/baygate-release.sh" upgrade "$up/$ver" >"$log" 2>&1; then
    status=ok
  elif [ "$(current)" = "$prev" ] && grep -q "running $prev again" "$log"; then
    status=rolled_back
  else
    status=failed
  fi
  cat "$log"
  write_result "$up" "$id" "$ver" "$status" "$prev" "$log"
  rm -f "$log" "$up/request.taken"
  rm -rf "${up:?}/$ver"  # the venv is built; the wheelhouse is not needed again
  say "upgrade $id to $ver: $status"
}

case "${1:-}" in
  install) [ $# -eq 2 ] || die "usage: $0 install WHEELHOUSE"; cmd_install "$2" ;;
  upgrade) [ $# -eq 2 ] || die "usage: $0 upgrade WHEELHOUSE"; cmd_upgrade "$2" ;;
  rollback) cmd_rollback ;;
  status) echo "current: $(current)"; releases | sed 's/^/kept: /' ;;
  apply-request) [ $# -eq 2 ] || die "usage: $0 apply-request STATE_DIR"; cmd_apply_request "$2" ;;
  *) die "usage: $0 install WHEELHOUSE | upgrade WHEELHOUSE | rollback | status | apply-request STATE_DIR" ;;
esac
