using System.Globalization;

namespace RunnerBackends.Tart.Internal;

/// <summary>
/// The shell scripts run in the guest through <c>tart exec</c>. Values travel as positional arguments (never spliced
/// into the script text), and the JIT configuration travels on standard input only.
/// </summary>
internal static class GuestScripts
{
    /// <summary>Where the runner's output, process id and exit code are kept in the guest.</summary>
    public const string StateDirectory = "/tmp/runnerbackends";

    /// <summary>
    /// One exec that starts the runner and waits until it runs: checks run.sh, reads the JIT config from standard
    /// input, starts run.sh in the background (detached from the exec, output to a log, its exit code recorded to a
    /// file when it ends) with the config in its environment, then waits in the guest for Runner.Listener.
    /// Arguments: the runner directory, the wait budget in whole seconds.
    /// Exit 0 once Runner.Listener runs (or the runner already finished with code 0); otherwise a message and the
    /// tail of the runner's log on standard error.
    /// </summary>
    public const string StartRunner = """
        dir=$1
        budget=$2
        state=/tmp/runnerbackends
        if [ ! -x "$dir/run.sh" ]; then
          echo "The runner was not found in the VM: $dir/run.sh does not exist or is not executable. Check RunnerDirectory and the image." >&2
          exit 3
        fi
        jit=$(cat)
        if [ -z "$jit" ]; then
          echo "No JIT configuration arrived on standard input." >&2
          exit 2
        fi
        mkdir -p "$state" && rm -f "$state/exit" "$state/exit.tmp" "$state/pid" || exit 1
        ACTIONS_RUNNER_INPUT_JITCONFIG=$jit nohup sh -c 'cd "$1" && "$1/run.sh"; echo $? > "$2/exit.tmp"; mv "$2/exit.tmp" "$2/exit"' runner "$dir" "$state" </dev/null >"$state/runner.log" 2>&1 &
        echo $! > "$state/pid"
        jit=
        # Polls fast at first (the runner usually comes up within a second), then every 100 ms, without a fork for the clock.
        i=0
        left=$(( budget * 10 ))
        while :; do
          if [ -f "$state/exit" ]; then
            code=$(cat "$state/exit")
            [ "$code" = 0 ] && exit 0
            echo "The runner exited with code $code as it started. Last lines of $state/runner.log:" >&2
            tail -n 20 "$state/runner.log" >&2
            exit 4
          fi
          if pgrep -x Runner.Listener >/dev/null 2>&1; then
            exit 0
          fi
          if [ "$left" -le 0 ]; then
            echo "Runner.Listener did not start within ${budget}s. Last lines of $state/runner.log:" >&2
            tail -n 20 "$state/runner.log" >&2
            exit 5
          fi
          if [ "$i" -lt 25 ]; then
            i=$((i + 1))
            sleep 0.02
          else
            left=$((left - 1))
            sleep 0.1
          fi
        done
        """;

    /// <summary>
    /// One long exec that returns when the runner has ended: prints the runner's exit code once run.sh returned, or
    /// <c>gone</c> when neither run.sh's wrapper nor Runner.Listener is left and no exit code was recorded.
    /// Argument: the poll interval in seconds.
    /// </summary>
    public const string WaitForExit = """
        state=/tmp/runnerbackends
        while [ ! -f "$state/exit" ]; do
          if ! kill -0 "$(cat "$state/pid" 2>/dev/null)" 2>/dev/null && ! pgrep -x Runner.Listener >/dev/null 2>&1; then
            [ -f "$state/exit" ] && break
            echo gone
            exit 0
          fi
          sleep "$1"
        done
        cat "$state/exit"
        """;

    public static string Seconds(TimeSpan value) => value.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);

    public static string WholeSeconds(TimeSpan value) =>
        Math.Max(1, (long)Math.Ceiling(value.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
}
