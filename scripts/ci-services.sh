#!/usr/bin/env bash
# Real services for the test suite: a throwaway PostgreSQL server, a throwaway Redis and Debian's Chromium.
#
#   bash scripts/ci-services.sh install         apt-get install postgresql, chromium, espeak-ng, redis-server
#                                               (root) if missing
#   bash scripts/ci-services.sh has-postgres    exit 0 when the PostgreSQL server binaries are installed
#   bash scripts/ci-services.sh start-postgres  initdb into a fresh temp dir, start it on 127.0.0.1 with
#                                               trust auth, create database hearth_test; prints its URL
#   bash scripts/ci-services.sh stop-postgres   stop that server (pg_ctl stop -m fast) and delete its dir
#   bash scripts/ci-services.sh start-redis     redis-server on 127.0.0.1, a free port, no persistence; prints
#                                               its URL (redis://127.0.0.1:PORT/0); state in $HEARTH_REDIS_STATE,
#                                               else ${TMPDIR:-/tmp}/hearth-ci-redis.env
#   bash scripts/ci-services.sh stop-redis      stop it by its PID and delete its dir
#
# start-postgres prints only the URL on stdout (postgresql://postgres@127.0.0.1:PORT/hearth_test), so
#   export HEARTH_TEST_POSTGRES_URL="$(bash scripts/ci-services.sh start-postgres)"
# works, and writes KEY=value lines (HEARTH_TEST_POSTGRES_URL, HEARTH_PG_DIR, HEARTH_PG_DATA, HEARTH_PG_BIN,
# HEARTH_PG_PORT, HEARTH_PG_USER) to a state file that stop-postgres reads: $HEARTH_PG_STATE, else
# ${TMPDIR:-/tmp}/hearth-ci-postgres.env. Use a different HEARTH_PG_STATE for a second server at once.
# As root the server runs as the `postgres` system user (runuser); otherwise as the calling user.
# Data is disposable: fsync is off. Nothing listens beyond loopback; nothing needs /var/run/postgresql.
set -euo pipefail

PROG="ci-services.sh"
STATE="${HEARTH_PG_STATE:-${TMPDIR:-/tmp}/hearth-ci-postgres.env}"
MARKER=".hearth-ci-postgres"
DB_NAME="hearth_test"

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Newest /usr/lib/postgresql/<version>/bin holding pg_ctl, else a pg_ctl on PATH (not Debian's wrapper).
pg_bin() {
  local dir best=""
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/pg_ctl" ] && best="$(printf '%s\n%s\n' "$best" "$dir" | sed '/^$/d' | sort -V | tail -n 1)"
  done
  if [ -z "$best" ] && command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    best="$(dirname "$(command -v pg_ctl)")"
  fi
  [ -n "$best" ] || return 1
  printf '%s\n' "$best"
}

# Run a command as the server's owner: the postgres system user when we are root, else ourselves.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u postgres -- "$@")  # from /: postgres may not be allowed into our cwd
  else
    "$@"
  fi
}

cmd_install() {
  local missing=()
  command -v /usr/bin/chromium >/dev/null 2>&1 || missing+=(chromium)
  pg_bin >/dev/null 2>&1 || missing+=(postgresql)
  command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  if [ "${#missing[@]}" -eq 0 ]; then
    log "postgresql, chromium, espeak-ng and redis-server already installed"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "need root to install ${missing[*]}: sudo bash scripts/ci-services.sh install"
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install ${missing[*]} yourself (Debian/Ubuntu only)"
  export DEBIAN_FRONTEND=noninteractive
  # Keep the package's own cluster (postgresql@15-main on 5432) from starting: we run our own servers.
  # Only when no policy-rc.d exists (Docker images ship one); ours is removed again afterwards.
  ADDED_POLICY=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    trap 'if [ -n "$ADDED_POLICY" ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    ADDED_POLICY=1
  fi
  local start=$SECONDS
  if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
    log "no apt package lists yet: apt-get update"
    apt-get update -q >&2
  fi
  log "apt-get install ${missing[*]}"
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
    log "install failed; retrying after apt-get update"
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  fi
  if [ -n "$ADDED_POLICY" ]; then rm -f /usr/sbin/policy-rc.d; ADDED_POLICY=""; fi
  command -v /usr/bin/chromium >/dev/null 2>&1 || die "/usr/bin/chromium still missing after install"
  pg_bin >/dev/null 2>&1 || die "pg_ctl still missing under /usr/lib/postgresql/*/bin after install"
  command -v espeak-ng >/dev/null 2>&1 || die "espeak-ng still missing after install"
  command -v redis-server >/dev/null 2>&1 || die "redis-server still missing after install"
  log "installed ${missing[*]} in $((SECONDS - start)) s"
}

cmd_has_postgres() {
  pg_bin >/dev/null 2>&1
}

# A free TCP port on 127.0.0.1: ask the kernel via python3, else probe 54329 upward.
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local port
  for port in $(seq 54329 54429); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      printf '%s\n' "$port"
      return
    fi
  done
  die "no free port in 54329-54429"
}

# Read KEY from the state file without sourcing it.
state_get() {
  sed -n "s/^$1=//p" "$STATE" | tail -n 1
}

# Is the server of this data dir running? (pg_ctl status: 0 running, 3 not running, 4 no data dir)
pg_running() {
  local bin=$1 data=$2
  as_owner "$bin/pg_ctl" status -D "$data" >/dev/null 2>&1
}

cmd_start_postgres() {
  # Globals, not locals: the failure trap below runs after this function's scope may be gone.
  local owner port url attempt
  bin="" dir="" data="" started=""
  bin="$(pg_bin)" || die "PostgreSQL server binaries not found (no pg_ctl under /usr/lib/postgresql/*/bin);" \
    "install them: sudo bash scripts/ci-services.sh install"
  if [ -f "$STATE" ]; then
    local old_bin old_data
    old_bin="$(state_get HEARTH_PG_BIN)"
    old_data="$(state_get HEARTH_PG_DATA)"
    if [ -n "$old_data" ] && [ -x "$old_bin/pg_ctl" ] && pg_running "$old_bin" "$old_data"; then
      die "a server from $STATE is still running ($(state_get HEARTH_TEST_POSTGRES_URL));" \
        "stop it first (bash scripts/ci-services.sh stop-postgres) or set HEARTH_PG_STATE to another file"
    fi
    log "removing stale state file $STATE"
    rm -f "$STATE"
  fi
  if [ "$(id -u)" -eq 0 ]; then
    id -u postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user to run the server as"
    owner=postgres
  else
    owner="$(id -un)"
  fi

  # Short path under /tmp: the Unix socket lives here too (socket paths are limited to ~100 bytes).
  dir="$(mktemp -d /tmp/hearth-pg.XXXXXX)"
  data="$dir/data"
  touch "$dir/$MARKER"
  chmod 755 "$dir"
  [ "$owner" = "$(id -un)" ] || chown "$owner:" "$dir"
  # On any failure from here on: stop what we started and remove the directory.
  cleanup_failed_start() {
    if [ -n "$started" ]; then as_owner "$bin/pg_ctl" stop -D "$data" -m immediate -w >/dev/null 2>&1 || true; fi
    if [ -f "$dir/server.log" ]; then
      log "server log ($dir/server.log):"
      tail -n 20 "$dir/server.log" >&2 || true
    fi
    rm -rf "$dir"
  }
  trap cleanup_failed_start EXIT

  local t0=$SECONDS
  as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; die "initdb failed in $data"; }
  # Trust, but only over the Unix socket (in $dir) and loopback TCP.
  cat >"$dir/pg_hba.conf" <<'EOF'
# TYPE  DATABASE  USER  ADDRESS       METHOD
local   all       all                 trust
host    all       all   127.0.0.1/32  trust
host    all       all   ::1/128       trust
local   replication all               trust
host    replication all 127.0.0.1/32  trust
EOF
  as_owner cp "$dir/pg_hba.conf" "$data/pg_hba.conf"

  for attempt in 1 2 3; do
    port="$(free_port)"
    as_owner tee -a "$data/postgresql.conf" >/dev/null <<EOF

# hearth ci-services.sh: a throwaway test server
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    if as_owner "$bin/pg_ctl" start -D "$data" -l "$dir/server.log" -w -t 60 -s; then
      started=1
      break
    fi
    # Most likely someone took the port between our check and the server's bind: try another one.
    log "pg_ctl start failed on port $port (attempt $attempt)"
    if [ "$attempt" -eq 3 ]; then die "could not start PostgreSQL; see the log below"; fi
  done

  "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d postgres \
    -c "CREATE DATABASE $DB_NAME" >&2 || die "could not create database $DB_NAME"
  url="postgresql://postgres@127.0.0.1:$port/$DB_NAME"

  local tmp_state
  tmp_state="$(mktemp "$STATE.XXXXXX")"
  cat >"$tmp_state" <<EOF
HEARTH_TEST_POSTGRES_URL=$url
HEARTH_PG_DIR=$dir
HEARTH_PG_DATA=$data
HEARTH_PG_BIN=$bin
HEARTH_PG_PORT=$port
HEARTH_PG_USER=$owner
EOF
  mv -f "$tmp_state" "$STATE"
  trap - EXIT
  log "PostgreSQL $("$bin/pg_ctl" --version | awk '{print $3}') up in $((SECONDS - t0)) s at $url" \
    "(data $data, state $STATE)"
  printf '%s\n' "$url"
}

cmd_stop_postgres() {
  if [ ! -f "$STATE" ]; then
    log "no state file $STATE: no server to stop"
    return 0
  fi
  local bin dir data pid
  bin="$(state_get HEARTH_PG_BIN)"
  dir="$(state_get HEARTH_PG_DIR)"
  data="$(state_get HEARTH_PG_DATA)"
  if [ -z "$dir" ] || [ -z "$data" ]; then die "state file $STATE lacks HEARTH_PG_DIR/HEARTH_PG_DATA"; fi
  if [ -d "$data" ]; then
    if [ -x "$bin/pg_ctl" ] && pg_running "$bin" "$data"; then
      if ! as_owner "$bin/pg_ctl" stop -D "$data" -m fast -w -t 60 -s; then
        # Last resort: the postmaster's own PID from its pid file, never a process name.
        pid="$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)"
        if [ -n "$pid" ]; then
          log "pg_ctl stop failed; sending SIGQUIT to postmaster $pid"
          kill -QUIT "$pid" 2>/dev/null || true
          sleep 2
        fi
      fi
    else
      log "server in $data was not running"
    fi
  fi
  if [ -d "$dir" ]; then
    # Only ever delete a directory this script made.
    if [ -f "$dir/$MARKER" ]; then rm -rf "$dir"; else log "not deleting $dir: it lacks $MARKER"; fi
  fi
  rm -f "$STATE"
  log "PostgreSQL stopped and $dir removed"
}

REDIS_STATE="${HEARTH_REDIS_STATE:-${TMPDIR:-/tmp}/hearth-ci-redis.env}"

cmd_start_redis() {
  command -v redis-server >/dev/null 2>&1 || die "redis-server not found; install it: sudo bash scripts/ci-services.sh install"
  if [ -f "$REDIS_STATE" ]; then
    local old_pid
    old_pid="$(sed -n 's/^HEARTH_REDIS_PID=//p' "$REDIS_STATE" | tail -n 1)"
    if [ -n "$old_pid" ] && kill -0 "$old_pid" 2>/dev/null; then
      die "a Redis from $REDIS_STATE is still running (pid $old_pid); stop it first (stop-redis)"
    fi
    rm -f "$REDIS_STATE"
  fi
  local dir port pid attempt
  dir="$(mktemp -d /tmp/hearth-redis.XXXXXX)"
  touch "$dir/$MARKER"
  for attempt in 1 2 3; do
    port="$(free_port)"
    if redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no --daemonize yes \
        --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >&2; then
      for _ in $(seq 50); do
        if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then break 2; fi
        sleep 0.1
      done
    fi
    log "redis-server did not come up on port $port (attempt $attempt)"
    if [ -f "$dir/redis.pid" ]; then kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; fi
    if [ "$attempt" -eq 3 ]; then tail -n 20 "$dir/redis.log" >&2 || true; rm -rf "$dir"; die "could not start Redis"; fi
  done
  pid="$(cat "$dir/redis.pid")"
  printf 'HEARTH_TEST_REDIS_URL=redis://127.0.0.1:%s/0\nHEARTH_REDIS_DIR=%s\nHEARTH_REDIS_PID=%s\n' \
    "$port" "$dir" "$pid" >"$REDIS_STATE"
  log "Redis up at redis://127.0.0.1:$port/0 (pid $pid, state $REDIS_STATE)"
  printf 'redis://127.0.0.1:%s/0\n' "$port"
}

cmd_stop_redis() {
  if [ ! -f "$REDIS_STATE" ]; then
    log "no state file $REDIS_STATE: no Redis to stop"
    return 0
  fi
  local dir pid
  dir="$(sed -n 's/^HEARTH_REDIS_DIR=//p' "$REDIS_STATE" | tail -n 1)"
  pid="$(sed -n 's/^HEARTH_REDIS_PID=//p' "$REDIS_STATE" | tail -n 1)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ -n "$dir" ] && [ -f "$dir/$MARKER" ]; then rm -rf "$dir"; fi
  rm -f "$REDIS_STATE"
  log "Redis stopped"
}

case "${1:-}" in
  install) cmd_install ;;
  start-redis) cmd_start_redis ;;
  stop-redis) cmd_stop_redis ;;
  has-postgres) cmd_has_postgres ;;
  start-postgres) cmd_start_postgres ;;
  stop-postgres) cmd_stop_postgres ;;
  *)
    echo "usage: bash scripts/ci-services.sh {install|has-postgres|start-postgres|stop-postgres|start-redis|stop-redis}" >&2
    exit 2
    ;;
esac
