/**
 * The two fixed scripts every agent starts under. They are constants: no
 * value from a message or the config is ever part of them; those arrive as
 * positional arguments ("$@") and in the env file, and the shell treats them
 * as data only.
 *
 * Stage 1 (run by tmux in the session's environment) drops that environment,
 * which is the tmux server's and may hold the daemon's secrets, keeping only
 * what the terminal needs, and runs stage 2.
 */
export const ENV_WRAPPER =
  's=$1; shift; exec env -i PATH=/usr/local/bin:/usr/bin:/bin TERM="${TERM:-tmux-256color}" TMUX="$TMUX" TMUX_PANE="$TMUX_PANE" /bin/sh -c "$s" ar-agent "$@"';

/**
 * Stage 2: exports the agent's environment from the env file (one NAME=value
 * a line), deletes the file, checks that the real working directory is still
 * inside baseDir's real path (a folder swapped for a symlink after the daemon
 * checked it is refused, status 125), runs the agent's argv, records its exit
 * status in the pane option `@ar_exit`, and touches the exit-notice file the
 * daemon created beforehand (so an exit is seen at once, not at the next
 * look) without following a symlink put in its place. First it joins the
 * agent's own cgroup, when there is one, so that every process it starts is
 * in it. Arguments: env file, tmux binary, exit-notice file, baseDir's real
 * path, the `touch` binary, the cgroup's `cgroup.procs` file (or ""), then
 * the agent's argv.
 */
export const AGENT_WRAPPER = [
  'f=$1; t=$2; n=$3; b=$4; u=$5; g=$6; shift 6',
  '[ -z "$g" ] || { echo $$ > "$g"; } 2>/dev/null',
  'while IFS= read -r l || [ -n "$l" ]; do export "$l" || exit 126; done < "$f"',
  'rm -f "$f"',
  'd=$(pwd -P)',
  'case "$d/" in',
  '  "${b%/}"/*) "$@"; s=$? ;;',
  '  *) printf "refusing to start: the working directory %s is not inside %s\\n" "$d" "$b" >&2; s=125 ;;',
  'esac',
  '"$t" -S "${TMUX%%,*}" set-option -p -t "$TMUX_PANE" @ar_exit "$s" >/dev/null 2>&1',
  '"$u" -h -c -- "$n" 2>/dev/null',
  'exit "$s"',
].join("\n");
