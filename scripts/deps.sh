#!/usr/bin/env bash
# Installs the Debian packages crmlog needs to build, run and test, when they are missing.
# Sourced by run.sh and test.sh; needs root (or sudo) only when something is missing.
crmlog_deps() {
  local pkgs=(cmake ninja-build pkg-config gcc g++ clang libclang-rt-14-dev
    libjansson-dev libsqlite3-dev libphonenumber-dev libcmocka-dev libmicrohttpd-dev libssl-dev
    libcurl4-openssl-dev jq curl python3 "$@")
  local missing=()
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
