#!/usr/bin/env bash
# Builds the fake runner image that integration tests, the sample host (demo mode) and the benchmark use, offline:
# `docker import` of a tiny rootfs around a static busybox. No registry is needed.
#
# Usage: build-test-image.sh [tag]          (default tag: runnerbackends/test-runner:local)
#   Idempotent: an image with this tag built from this very script is kept as is (FORCE=1 rebuilds it).
#   The busybox binary is $BUSYBOX if set, else /bin/busybox or /usr/bin/busybox (Debian: apt-get install busybox-static);
#   it must be statically linked.
#   On success the last line of standard output is the tag.
#
# The image:
#   /bin/busybox with every applet linked in /bin (sh, find, touch, rm, rmdir, sleep, id, stat, ...)
#   user runner (uid 1001, home /home/runner), group docker (gid 123) with runner in it, root; default user runner
#   /usr/bin/sudo   a shim that runs its arguments as the current user (the shared-volume wrapper calls sudo chown)
#   /shared         owned 1001:123, so a fresh volume mounted there is already the runner's
#   /home/runner/run.sh  the fake runner: exits 64 unless ACTIONS_RUNNER_INPUT_JITCONFIG is non-empty, then "runs a job"
#                   and exits. A JIT config of the form key=value;key=value steers it, so tests control each runner:
#                     job=<seconds>   how long the job runs (default 3)
#                     exit=<code>     the exit code (default 0)
#                   Any other (opaque) value runs the default 3-second job and exits 0.
#   label io.github.runnerbackends.test-image=<hash of this script>
set -euo pipefail

tag=${1:-runnerbackends/test-runner:local}
script_hash=$(sha256sum "$0" | cut -c1-16)

if [ "${FORCE:-0}" != 1 ] &&
   [ "$(docker image inspect --format '{{ index .Config.Labels "io.github.runnerbackends.test-image" }}' "$tag" 2>/dev/null || true)" = "$script_hash" ]; then
  echo "$tag"
  exit 0
fi

busybox=${BUSYBOX:-}
if [ -z "$busybox" ]; then
  for candidate in /bin/busybox /usr/bin/busybox; do
    if [ -x "$candidate" ]; then busybox=$candidate; break; fi
  done
fi
if [ -z "$busybox" ] || [ ! -x "$busybox" ]; then
  echo "build-test-image.sh: no busybox found; install busybox-static or set BUSYBOX" >&2
  exit 1
fi
if ldd "$busybox" >/dev/null 2>&1; then
  echo "build-test-image.sh: $busybox is dynamically linked; a static busybox (busybox-static) is needed" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{bin,usr/bin,etc,tmp,root,home/runner,shared,var/run}
cp "$busybox" "$root/bin/busybox"
chmod 0755 "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
chmod 1777 "$root/tmp"

cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
runner:x:1001:1001:runner:/home/runner:/bin/sh
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
runner:x:1001:
docker:x:123:runner
GROUP

cat >"$root/usr/bin/sudo" <<'SUDO'
#!/bin/sh
# Test image shim: no privilege escalation, just run the command.
exec "$@"
SUDO
chmod 0755 "$root/usr/bin/sudo"

cat >"$root/home/runner/run.sh" <<'RUN'
#!/bin/sh
# Fake GitHub Actions runner: see build-test-image.sh for the JIT config keys.
if [ -z "${ACTIONS_RUNNER_INPUT_JITCONFIG:-}" ]; then
  echo "run.sh: ACTIONS_RUNNER_INPUT_JITCONFIG is not set" >&2
  exit 64
fi
job=3
code=0
case "$ACTIONS_RUNNER_INPUT_JITCONFIG" in
  *=*)
    old_ifs=$IFS
    IFS=';'
    for pair in $ACTIONS_RUNNER_INPUT_JITCONFIG; do
      case "$pair" in
        job=*) job=${pair#job=} ;;
        exit=*) code=${pair#exit=} ;;
      esac
    done
    IFS=$old_ifs
    ;;
esac
case "$job" in ''|*[!0-9]*) job=3 ;; esac
case "$code" in ''|*[!0-9]*) code=0 ;; esac
echo "run.sh: running a job for ${job}s as $(id -un) ($(id -G))"
sleep "$job"
echo "run.sh: job done, exiting with $code"
exit "$code"
RUN
chmod 0755 "$root/home/runner/run.sh"

# Ownership is set in the archive, so the script needs no root: everything root's, except the runner's home and /shared.
tar -C "$root" --numeric-owner --owner=0 --group=0 --exclude=./home/runner --exclude=./shared -cf "$work/rootfs.tar" .
tar -C "$root" --numeric-owner --owner=1001 --group=1001 -rf "$work/rootfs.tar" ./home/runner
tar -C "$root" --numeric-owner --owner=1001 --group=123 -rf "$work/rootfs.tar" ./shared

docker import \
  --change 'USER runner' \
  --change 'WORKDIR /home/runner' \
  --change 'ENV PATH=/usr/bin:/bin' \
  --change 'CMD ["/home/runner/run.sh"]' \
  --change "LABEL io.github.runnerbackends.test-image=$script_hash" \
  "$work/rootfs.tar" "$tag" >/dev/null
echo "$tag"
