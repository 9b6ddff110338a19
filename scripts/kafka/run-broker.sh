#!/usr/bin/env bash
# Watchdog for a local Kafka broker JVM, started by connectors/kafka/local-broker.ts
# (which also runs the Maven jar download and the storage format under it).
#
#   bash run-broker.sh <ownerPid> <command> [args...]
#
# "JVM" below means <command>.
#
# Why this exists: the Node process that owns a broker may die by SIGKILL (tests kill -9
# service processes), and then no Node code runs to stop the JVM. This script outlives
# such a death, notices that the owner is gone and takes the JVM down with it.
#
# - Runs <command> in the background and writes its pid to fd 3 (if open), then closes
#   fd 3 so the owner sees EOF and knows the pid is final.
# - Every 500 ms checks whether <ownerPid> is still alive (a zombie counts as dead: its
#   parent may not have reaped it yet). When it is gone: SIGTERM the JVM (controlled
#   shutdown), SIGKILL after 10 s, then remove $RUN_BROKER_CLEANUP_DIR if set (a temp
#   dir that only the dead owner would otherwise have removed).
# - Forwards SIGTERM/SIGINT/SIGHUP to the JVM. Background jobs of a non-interactive
#   shell ignore SIGINT, so forwarding as SIGTERM is what makes Ctrl-C effective.
# - Exits with the JVM's exit status, after having reaped it: once this script has
#   exited, the JVM's pid is gone.
set -u

owner=$1
shift

jpid=
term_requested=

alive() {
  kill -0 "$1" 2>/dev/null || return 1
  # kill -0 succeeds on zombies; on Linux, look at the state field after "(comm) ".
  if [[ -r /proc/$1/stat ]]; then
    local stat
    stat=$(</proc/"$1"/stat) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]] || return 1
  fi
  return 0
}

forward() {
  term_requested=1
  [[ -n $jpid ]] && kill -TERM "$jpid" 2>/dev/null
}
# Installed before the JVM starts so a signal arriving in between is not lost.
trap forward TERM INT HUP

"$@" 3>&- </dev/null &
jpid=$!
{ echo "$jpid" >&3; } 2>/dev/null
exec 3>&-
[[ -n $term_requested ]] && kill -TERM "$jpid" 2>/dev/null

owner_gone=
while alive "$jpid"; do
  if ! alive "$owner"; then
    owner_gone=1
    kill -TERM "$jpid" 2>/dev/null
    for _ in $(seq 1 20); do
      alive "$jpid" || break
      sleep 0.5
    done
    alive "$jpid" && kill -KILL "$jpid" 2>/dev/null
    break
  fi
  # `wait` on a background sleep, not a foreground sleep: bash runs traps only between
  # foreground commands, but interrupts `wait` at once.
  sleep 0.5 &
  wait $! 2>/dev/null
done

# A forwarded signal interrupts `wait` before the JVM is done; wait again until it is.
while :; do
  wait "$jpid" 2>/dev/null
  status=$?
  alive "$jpid" || break
done

if [[ -n $owner_gone && -n ${RUN_BROKER_CLEANUP_DIR:-} ]]; then
  rm -rf -- "$RUN_BROKER_CLEANUP_DIR"
fi
exit "$status"
