#!/usr/bin/env bash
# Idempotent setup of MagicBlock's ephemeral validator (the ER) into .er/ (gitignored):
#   .er/npm/      @magicblock-labs/ephemeral-validator@0.8.3 from npm: the linux-x64 validator binary and
#                 bin/local-dumps (the delegation program and the accounts a base chain must hold)
#   .er/glibc/    Debian 13 (trixie) libc6, libstdc++6, libgcc-s1, libssl3t64 unpacked with dpkg -x:
#                 the binary needs glibc >= 2.39 and this machine's Debian 12 has 2.36; it is started
#                 through that glibc's own loader (ld-linux-x86-64.so.2 --library-path ...)
#   .er/nofile_shim.so  LD_PRELOAD shim: the validator insists on ~1,000,000 open files and exits when
#                 setrlimit fails; the shim clamps RLIMIT_NOFILE requests to the hard limit.
# Nothing is installed system-wide except tmux (the validator's terminal UI needs a terminal).
# A second run only checks stamps.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ER="$ROOT/.er"
ER_VERSION=0.8.3
NPM_PKG="@magicblock-labs/ephemeral-validator@$ER_VERSION"
TRIXIE_PKGS=(libc6 libstdc++6 libgcc-s1 libssl3t64)

log() { printf '[setup-er] %s\n' "$*"; }
mkdir -p "$ER"

# --- 0. system tools: node/npm to fetch the package, tmux for the validator's TUI, gcc for the shim --
missing=()
command -v npm >/dev/null || missing+=(npm)
command -v tmux >/dev/null || missing+=(tmux)
command -v gcc >/dev/null || missing+=(gcc)
if ((${#missing[@]})); then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    log "apt: installing ${missing[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" </dev/null
fi

# --- 1. the npm package (validator binary + local-dumps) ---------------------------------------
npm_stamp="$ER/.npm-$ER_VERSION"
if [ -f "$npm_stamp" ]; then
    log "npm $NPM_PKG present"
else
    log "npm install $NPM_PKG into .er/npm"
    rm -rf "$ER/npm"; mkdir -p "$ER/npm"
    (cd "$ER/npm" && npm install --prefix . --no-audit --no-fund --loglevel=error "$NPM_PKG" </dev/null)
    test -x "$ER/npm/node_modules/@magicblock-labs/ephemeral-validator-linux-x64/bin/ephemeral-validator"
    test -f "$ER/npm/node_modules/@magicblock-labs/ephemeral-validator/bin/local-dumps/DELeGGvXpWV2fqJUhqcF5ZSYMS4JTLjteaAMARRSaeSh.so"
    rm -f "$ER"/.npm-*; touch "$npm_stamp"
fi

# --- 2. Debian trixie glibc, with a private apt configuration (the system's sources stay as they are) --
glibc_stamp="$ER/.glibc-trixie"
if [ -f "$glibc_stamp" ]; then
    log "trixie glibc present"
else
    log "downloading ${TRIXIE_PKGS[*]} from Debian trixie into .er/glibc"
    APT="$ER/apt"; rm -rf "$APT" "$ER/glibc"
    mkdir -p "$APT/sources.d" "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/debs" "$ER/glibc"
    : > "$APT/empty.list"
    cat > "$APT/sources.d/trixie.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    apt_opts=(-q -oDir::Etc::SourceList="$APT/empty.list" -oDir::Etc::SourceParts="$APT/sources.d"
              -oDir::State::Lists="$APT/lists" -oDir::Cache="$APT/cache" -oAPT::Sandbox::User=root)
    apt-get "${apt_opts[@]}" update </dev/null >/dev/null
    (cd "$APT/debs" && apt-get "${apt_opts[@]}" download "${TRIXIE_PKGS[@]}" </dev/null >/dev/null)
    for deb in "$APT"/debs/*.deb; do dpkg -x "$deb" "$ER/glibc/root"; done
    # One flat folder: the loader and every library, so --library-path needs one entry.
    mkdir -p "$ER/glibc/lib"
    cp -a "$ER/glibc/root"/usr/lib/x86_64-linux-gnu/. "$ER/glibc/lib/"
    [ -d "$ER/glibc/root/lib/x86_64-linux-gnu" ] && cp -a "$ER/glibc/root"/lib/x86_64-linux-gnu/. "$ER/glibc/lib/"
    test -e "$ER/glibc/lib/ld-linux-x86-64.so.2"
    rm -rf "$APT" "$ER/glibc/root"
    touch "$glibc_stamp"
fi

# --- 3. the open-files shim ---------------------------------------------------------------
shim_src="$ROOT/scripts/nofile_shim.c"
shim_stamp="$ER/.shim-$(sha256sum "$shim_src" | cut -c1-16)"
if [ -f "$ER/nofile_shim.so" ] && [ -f "$shim_stamp" ]; then
    log "nofile shim present"
else
    log "compiling nofile shim"
    gcc -O2 -shared -fPIC -o "$ER/nofile_shim.so" "$shim_src"
    rm -f "$ER"/.shim-*; touch "$shim_stamp"
fi

# --- 4. smoke check: the binary runs under the trixie loader ----------------------------------
BIN="$ER/npm/node_modules/@magicblock-labs/ephemeral-validator-linux-x64/bin/ephemeral-validator"
if ! "$ER/glibc/lib/ld-linux-x86-64.so.2" --library-path "$ER/glibc/lib" "$BIN" --version >/dev/null 2>&1; then
    echo "[setup-er] error: the validator does not start under .er/glibc (run: rm -rf .er && make setup-er)" >&2
    exit 1
fi
log "done"
