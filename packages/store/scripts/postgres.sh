#!/usr/bin/env bash
# Prints the URL of a PostgreSQL server for trawl's tests and benchmarks, on
# stdout (diagnostics go to stderr). In order:
#   1. $TRAWL_TEST_POSTGRES_URL, when set;
#   2. a server already answering on 127.0.0.1:5432 (user postgres, trust auth);
#   3. a server of our own from Debian's packages (installed with apt-get when
#      missing and we are root), on a free loopback port with a data directory
#      under /tmp, started once and reused by later runs.
# Exits non-zero, saying why on stderr, when none can be had.
# TRAWL_TEST_POSTGRES_OWN=1 skips step 2 (to exercise step 3).
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

if [ -n "${TRAWL_TEST_POSTGRES_URL:-}" ]; then
  echo "$TRAWL_TEST_POSTGRES_URL"
  exit 0
fi

bindir() {
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/postgres" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
  done
  return 1
}

answers() { # host port database -> 0 when the server accepts user postgres
  local bin psql
  psql=$(command -v psql || true)
  if [ -z "$psql" ] && bin=$(bindir); then psql="$bin/psql"; fi
  [ -n "$psql" ] || return 1
  PGCONNECT_TIMEOUT=3 "$psql" -X -q -h "$1" -p "$2" -U postgres -d "$3" -tAc 'SELECT 1' >/dev/null 2>&1
}

# 2. the machine's server
for db in $([ "${TRAWL_TEST_POSTGRES_OWN:-}" = 1 ] || echo test postgres); do
  if answers 127.0.0.1 5432 "$db"; then
    echo "postgres://postgres@127.0.0.1:5432/$db"
    exit 0
  fi
done

# 3. our own server
if ! bin=$(bindir); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "no PostgreSQL binaries: installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    (apt-get install -y -q postgresql >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q postgresql >/dev/null 2>&1; }) ||
      { log "apt-get install postgresql failed"; exit 1; }
    bin=$(bindir) || { log "postgresql installed but no binaries under /usr/lib/postgresql"; exit 1; }
  else
    log "no PostgreSQL binaries and cannot install them (not root, or no apt-get)"
    exit 1
  fi
fi

state=/tmp/trawl-postgres
mkdir -p "$state"
exec 9>"$state/lock"
flock -w 120 9 || { log "timed out waiting for $state/lock"; exit 1; }

if [ -f "$state/port" ]; then
  port=$(cat "$state/port")
  if answers 127.0.0.1 "$port" postgres; then
    echo "postgres://postgres@127.0.0.1:$port/postgres"
    exit 0
  fi
fi

# The server refuses to run as root: run it as the postgres user when we are root.
as_owner() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir "$state" postgres
  chown postgres "$state"
fi

data="$state/data"
if [ ! -f "$data/PG_VERSION" ]; then
  rm -rf "$data"
  as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust --no-sync -E UTF8 >"$state/initdb.log" 2>&1 ||
    { log "initdb failed: $(tail -5 "$state/initdb.log")"; exit 1; }
fi

# Below the usual ephemeral range (32768+), where an outgoing connection's
# local port can make a port that nobody listens on unbindable; a port
# another server holds makes pg_ctl fail, and the next one is tried.
port=""
for candidate in $(seq 15432 15451); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then continue; fi
  : >"$state/server.log" 2>/dev/null || true
  # 9>&-: the server must not inherit (and hold forever) the lock.
  if as_owner "$bin/pg_ctl" -D "$data" -w -t 60 -l "$state/server.log" \
    -o "-c listen_addresses=127.0.0.1 -p $candidate -k $state -c fsync=off -c synchronous_commit=off -c max_connections=200" start >/dev/null 2>&1 9>&-; then
    port=$candidate
    break
  fi
  grep -q "could not bind" "$state/server.log" 2>/dev/null || break
done
[ -n "$port" ] || { log "pg_ctl start failed: $(tail -5 "$state/server.log" 2>/dev/null)"; exit 1; }
echo "$port" >"$state/port"
answers 127.0.0.1 "$port" postgres || { log "server started on $port but does not answer"; exit 1; }
log "started PostgreSQL ($bin) on 127.0.0.1:$port, data in $data"
echo "postgres://postgres@127.0.0.1:$port/postgres"
