#!/usr/bin/env bash
# Fake GitHub Actions runner entry point, placed in the runner directory of every simulated image. Like the real
# run.sh with a JIT config, it needs ACTIONS_RUNNER_INPUT_JITCONFIG (or --jitconfig X), then becomes a process named
# Runner.Listener that takes one job (JOB_MS), and exits with RUNNER_EXIT. RUNNER_DIES makes it fail at start.
set -u
jit=${ACTIONS_RUNNER_INPUT_JITCONFIG:-}
while [ $# -gt 0 ]; do
  case $1 in
    --jitconfig) jit=${2:-}; shift $(( $# > 1 ? 2 : 1 )) ;;
    --jitconfig=*) jit=${1#--jitconfig=}; shift ;;
    *) shift ;;
  esac
done

sim=${TART_SIM_GUEST_DIR:-/.tart-sim}
# shellcheck source=../sim-lib.sh
. "$sim/bin/sim-lib.sh"
load_config "$sim/home/config"

if [ -z "$jit" ]; then
  echo "An error occurred: no JIT configuration: set ACTIONS_RUNNER_INPUT_JITCONFIG or pass --jitconfig"
  exit 1
fi
if fault_fires RUNNER_DIES "$sim/home"; then
  echo "An error occurred: Runner.Listener failed to start: the runner registration was rejected (simulated RUNNER_DIES)"
  exit 1
fi

here=$(cd "$(dirname "$0")" && pwd)
export ACTIONS_RUNNER_INPUT_JITCONFIG=$jit
exec "$here/bin/Runner.Listener" run
