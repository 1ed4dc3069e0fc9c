#!/usr/bin/env bash
# Makes a Debian machine ready for the tests: installs the Docker engine, a static busybox (the offline test
# image's userland) and the tools the tart simulator uses, then starts dockerd if no engine answers.
# Idempotent; needs root (or passwordless sudo) only for what is missing.
set -euo pipefail

sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || need+=(busybox-static)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v pgrep >/dev/null 2>&1 || need+=(procps)
command -v flock >/dev/null 2>&1 || need+=(util-linux)
command -v jq >/dev/null 2>&1 || need+=(jq)
if [ "${#need[@]}" -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_ apt-get update -qq
  sudo_ apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ -n "${DOCKER_HOST:-}" ] && docker version >/dev/null 2>&1; then
  echo "setup: using the engine at $DOCKER_HOST"
  exit 0
fi

if ! docker version >/dev/null 2>&1; then
  echo "setup: starting dockerd"
  log=/var/log/runnerbackends-dockerd.log
  [ -w /var/log ] || log=/tmp/runnerbackends-dockerd.log
  # setsid: the daemon outlives this script and the test run.
  sudo_ setsid nohup dockerd >"$log" 2>&1 < /dev/null &
  for _ in $(seq 1 120); do
    if [ -S /var/run/docker.sock ] && docker version >/dev/null 2>&1; then break; fi
    sleep 0.5
  done
  if ! docker version >/dev/null 2>&1; then
    echo "setup: dockerd did not come up; its log:" >&2
    tail -n 40 "$log" >&2 || true
    exit 1
  fi
fi
echo "setup: engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"
