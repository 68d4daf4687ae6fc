#!/usr/bin/env bash
# System packages the test suite needs: PostgreSQL server binaries, pgBackRest (physical backups
# and point-in-time recovery), Debian's Chromium, and Node with npm (the generated TypeScript
# client's test).
# Installs only what is missing; needs root (or passwordless sudo) when something is.
set -euo pipefail

missing=()
have_postgres() {
  command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}
have_postgres || missing+=(postgresql postgresql-contrib)
command -v pgbackrest >/dev/null 2>&1 || missing+=(pgbackrest)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing system packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
