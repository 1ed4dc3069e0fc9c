# Shared by the tart simulator (host side) and its fake runner (guest side): the control file, the fault counters
# and a clock. Sourced, never executed. Uses bash builtins where it can: every fork costs a millisecond.

# Milliseconds since the epoch, in REPLY (no fork).
now_ms() {
  local t=${EPOCHREALTIME//[.,]/}
  REPLY=$((10#$t / 1000))
}

# Reads KEY=VALUE lines of $1 (the sim/config file) into the associative array CFG, over the defaults.
load_config() {
  declare -gA CFG=([CLONE_MS]=0 [BOOT_MS]=500 [EXEC_MS]=0 [STALL_MS]=10000 [JOB_MS]=1000 [RUNNER_EXIT]=0
    [VM_LIMIT]=2 [PULL_MS]=0 [PULL_RUNNER_DIR]=/Users/admin/actions-runner)
  local line key value
  [ -f "$1" ] || return 0
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*=(.*)$ ]] || continue
    key=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    value=${value#"${value%%[![:space:]]*}"}
    value=${value%"${value##*[![:space:]]}"}
    CFG[$key]=$value
  done <"$1"
}

# An integer setting, or its default when the value is not a non-negative integer.
cfg_int() { # key default
  local v=${CFG[$1]:-}
  if [[ $v =~ ^[0-9]+$ ]]; then REPLY=$((10#$v)); else REPLY=$2; fi
}

# Whether fault $1 fires now. Its value is "always", or N ("the next N times only": a counter in $2/faults/<KEY>,
# decremented under $2/faults.lock so that concurrent invocations consume it exactly N times). The counter restarts
# when the configured value changes or when its file is removed.
fault_fires() { # key simdir
  local key=$1 dir=$2 value=${CFG[$1]:-} fd stored remaining fired=1
  case $value in
    always|ALWAYS|true) return 0 ;;
    ''|0) return 1 ;;
  esac
  [[ $value =~ ^[0-9]+$ ]] || return 1
  [ -d "$dir/faults" ] || mkdir -p "$dir/faults"
  exec {fd}>>"$dir/faults.lock"
  flock -x "$fd"
  stored= remaining=
  [ -f "$dir/faults/$key" ] && read -r stored remaining <"$dir/faults/$key"
  if [ "$stored" != "$value" ] || ! [[ $remaining =~ ^[0-9]+$ ]]; then remaining=$((10#$value)); fi
  if [ "$remaining" -gt 0 ]; then
    remaining=$((remaining - 1))
    fired=0
  fi
  printf '%s %s\n' "$value" "$remaining" >"$dir/faults/$key"
  exec {fd}>&-
  return $fired
}

# Sleeps $1 milliseconds (nothing at 0).
nap_ms() {
  [ "${1:-0}" -gt 0 ] || return 0
  local s
  printf -v s '%d.%03d' $(($1 / 1000)) $(($1 % 1000))
  sleep "$s"
}
