# Shared by scripts/deps.sh and bench/lib/deps.sh (sourced, not run): root or
# sudo, Debian only, and package queries. The caller sets LOG_PREFIX first.
# shellcheck shell=bash
# shellcheck disable=SC2034 # SUDO is used by the scripts that source this file

log() { printf '%s: %s\n' "${LOG_PREFIX:-deps}" "$*" >&2; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo)
	else
		log "must run as root (or with sudo available)"
		exit 1
	fi
fi

if [ ! -r /etc/debian_version ] || ! command -v apt-get >/dev/null 2>&1; then
	log "this script supports Debian 12 (bookworm) only"
	exit 1
fi

pkg_installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}
