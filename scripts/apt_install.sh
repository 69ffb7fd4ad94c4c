# Sourced by the setup scripts: apt_install PKG... installs the Debian packages not yet present
# (with sudo when not root) and logs through the caller's log().
apt_install() {
    local missing=() p SUDO=""
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if ((${#missing[@]} == 0)); then
        log "apt: packages present"
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    log "apt: installing ${missing[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" </dev/null
}
