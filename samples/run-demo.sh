#!/usr/bin/env bash
# Runs the sample host's demo on this machine: packs RunnerBackends with a fresh version into artifacts/packages,
# builds the offline test runner image (Docker) or uses the tart simulator (Tart), then runs samples/RunnerHost
# with --demo against an in-process fake GitHub on 127.0.0.1. No GitHub account and no network are needed.
#   samples/run-demo.sh                          # Docker backend, until Ctrl+C
#   samples/run-demo.sh --duration 30            # stop by itself after 30 s (graceful shutdown included)
#   samples/run-demo.sh --backend tart           # the Tart backend on the tart simulator, with a warm pool
#   samples/run-demo.sh --no-setup               # skip installing/starting Docker (you manage the engine)
#   samples/run-demo.sh -- --Keeper:MinIdle=2    # anything after -- goes to the host
set -euo pipefail
cd "$(dirname "$0")/.."

backend=docker
duration=
setup=1
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --backend) backend=${2:?--backend needs docker or tart}; shift 2 ;;
    --duration) duration=${2:?--duration needs a number of seconds}; shift 2 ;;
    --no-setup) setup=0; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "unknown option: $1 (see the header of $0)" >&2; exit 64 ;;
  esac
done
case "$backend" in docker|tart) ;; *) echo "--backend must be docker or tart" >&2; exit 64 ;; esac

[ "$setup" = 1 ] && eng/setup-machine.sh
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# A unique version per pack: NuGet's global cache would otherwise serve an older copy of the same version.
version="0.1.0-local.$(date +%Y%m%d%H%M%S)"
echo "demo: packing RunnerBackends $version"
if ! log=$(dotnet pack src/RunnerBackends -c Release -o artifacts/packages -p:Version="$version" 2>&1); then
  printf '%s\n' "$log" >&2
  exit 1
fi

if [ "$backend" = docker ]; then
  echo "demo: building the offline test runner image"
  bash tests/RunnerBackends.IntegrationTests/DockerImage/build-test-image.sh >/dev/null
fi

args=(--demo --backend "$backend")
[ -n "$duration" ] && args+=(--duration "$duration")
echo "demo: building and starting samples/RunnerHost"
exec dotnet run --project samples/RunnerHost -c Release -p:RunnerBackendsVersion="$version" -- "${args[@]}" "${extra[@]}"
