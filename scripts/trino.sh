#!/usr/bin/env bash
# Trino, the engine Athena's engine 3 is, on this machine: the pinned server core and Hive plugin from
# Maven Central (downloaded once per machine into a cache, checksums verified), started on a free
# loopback port with the Hive connector over the local file system and a file metastore.
#
#   scripts/trino.sh install   downloads and unpacks the pinned Trino (once); prints its directory
#   eval "$(scripts/trino.sh start)"   starts a server; prints `export TRINO_URL=http://127.0.0.1:PORT`
#                              (and TRINO_STATE, the directory of its configuration, metastore and log)
#   scripts/trino.sh stop      stops the server `start` started (TRINO_STATE, default target/trino)
#
# Trino 476 runs on Java 24 or later: TRINO_JAVA_HOME (default: the Temurin 25 JDK of these
# machines) is used for Trino alone; the rest of the project keeps the default Java.
# The catalog is named `awsdatacatalog`, as Athena's is, so that the view stored the way the
# template stores it (its catalog is `awsdatacatalog`) resolves here too. docs/querying-on-trino.md
# says what is measured and what Athena does differently.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The pins: Maven Central serves trino-server-core at 476 only (its metadata lists no other
# version, and later versions' tar.gz answer 404); the Hive plugin is taken at the same version.
# The sha256 sums were computed here over the downloads whose sha1 matched Maven Central's .sha1
# (Maven Central publishes no .sha256 for these artifacts).
version=476
core_sha256=0f388f9967c177ae70a47c099082fc95387f0c3cb96d8000d1d41fc3a5223158
hive_sha256=611bacdb07d9f3cf7b9d47f97ecc76fa2e7ff8bfe8a9728c3d06adc1bfb8662e
maven="${TRINO_MAVEN_REPO:-https://repo1.maven.org/maven2}"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/atlassian-audit/trino/$version"
java_home="${TRINO_JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}"
state="${TRINO_STATE:-$root/target/trino}"

fetch() { # artifact file sha256
  local url="$maven/io/trino/$1/$version/$2" out="$cache/$2"
  if [ -f "$out" ] && echo "$3  $out" | sha256sum --check --status; then
    return 0
  fi
  echo "==> downloading $2 (Maven Central, io.trino:$1:$version; once per machine)" >&2
  curl -fsSL --retry 3 -o "$out.partial" "$url"
  if ! echo "$3  $out.partial" | sha256sum --check --status; then
    echo "$2: sha256 $(sha256sum "$out.partial" | cut -d' ' -f1), pinned $3" >&2
    rm -f "$out.partial"
    exit 1
  fi
  mv "$out.partial" "$out"
}

install() {
  local server="$cache/trino-server-core-$version"
  if [ -f "$server/.installed" ]; then
    echo "$server"
    return 0
  fi
  mkdir -p "$cache"
  fetch trino-server-core "trino-server-core-$version.tar.gz" "$core_sha256"
  fetch trino-hive "trino-hive-$version.zip" "$hive_sha256"
  rm -rf "$server"
  tar -xzf "$cache/trino-server-core-$version.tar.gz" -C "$cache"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
    "$cache/trino-hive-$version.zip" "$server/plugin"
  chmod +x "$server/bin/launcher" "$server/bin/linux-"*/launcher
  touch "$server/.installed"
  echo "$server"
}

start() {
  if [ ! -x "$java_home/bin/java" ]; then
    echo "no JDK at $java_home (Trino $version needs Java 24+): set TRINO_JAVA_HOME" >&2
    exit 1
  fi
  local server port
  server="$(install)"
  stop
  rm -rf "$state"
  mkdir -p "$state/etc/catalog" "$state/data" "$state/metastore"
  port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  cat >"$state/etc/node.properties" <<EOF
node.environment=test
node.id=atlassian-audit-test
node.data-dir=$state/data
node.bind-ip=127.0.0.1
node.internal-address=127.0.0.1
EOF
  # A small heap: the test data is a few thousand events; the machine has 2 cores.
  cat >"$state/etc/jvm.config" <<EOF
-server
-Xmx${TRINO_HEAP:-1G}
-XX:+UseSerialGC
-XX:+ExitOnOutOfMemoryError
-Djdk.attach.allowAttachSelf=true
-Duser.timezone=UTC
EOF
  cat >"$state/etc/config.properties" <<EOF
coordinator=true
node-scheduler.include-coordinator=true
http-server.http.port=$port
discovery.uri=http://127.0.0.1:$port
plugin.dir=$server/plugin
query.max-memory=512MB
query.max-memory-per-node=512MB
task.concurrency=2
EOF
  # The Hive connector as Athena's Glue catalog: tables and views in a file metastore, data on the
  # local file system (local:///abs/path stands for s3://bucket/...), Athena's partition projection.
  cat >"$state/etc/catalog/awsdatacatalog.properties" <<EOF
connector.name=hive
hive.metastore=file
hive.metastore.catalog.dir=local://$state/metastore
fs.native-local.enabled=true
local.location=/
hive.partition-projection-enabled=true
hive.non-managed-table-writes-enabled=false
# Athena reads a projected partition without objects as empty; Trino fails on it unless told.
hive.ignore-absent-partitions=true
EOF
  echo "io.trino=WARN" >"$state/etc/log.properties"
  local started=$SECONDS
  JAVA_HOME="$java_home" "$server/bin/launcher" run --etc-dir "$state/etc" --data-dir "$state/data" \
    >"$state/server.log" 2>&1 </dev/null &
  echo $! >"$state/pid"
  for _ in $(seq 1 240); do
    if curl -fsS "http://127.0.0.1:$port/v1/info" 2>/dev/null | grep -q '"starting":false' &&
      python3 "$root/scripts/trino_query.py" ready "http://127.0.0.1:$port" >/dev/null 2>&1; then
      echo "==> Trino $version at http://127.0.0.1:$port (started in $((SECONDS - started)) s; log $state/server.log)" >&2
      echo "export TRINO_URL=http://127.0.0.1:$port"
      echo "export TRINO_STATE=$state"
      return 0
    fi
    if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
      break
    fi
    sleep 0.5
  done
  echo "Trino did not start; the end of $state/server.log:" >&2
  tail -n 30 "$state/server.log" >&2
  stop
  exit 1
}

stop() {
  if [ -f "$state/pid" ]; then
    local pid
    pid="$(cat "$state/pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$state/pid"
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 install|start|stop" >&2; exit 2 ;;
esac
