/*
 * proc.h - the proc actor: child processes for sh.exec (spec core §4.2), owned on the I/O loop.
 *
 * Messages (src = the requesting actor, session = its await session):
 *   AB_MSG_PROC_EXEC  (call) body: msgpack [cmd (str), cwd (str, "" = inherit), timeout_s (int)]
 *       -> AB_MSG_REPLY status 0, body [code (int, -1 if killed by a signal), stdout (bin),
 *          stderr (bin)] once the shell has exited and both pipes reached EOF;
 *       -> error reply "exec error: <os error>" (spawn failed), "timeout after <N>s".
 *   AB_MSG_PROC_ABORT (no reply) body empty: the child of (src, session) is killed and no reply
 *       is sent (the requester dropped its wait).
 * Each child runs `sh -c <cmd>` in a new session (setsid), so its pid is the process group id
 * and the whole group (grandchildren included) is signalled: SIGTERM on timeout, abort or
 * cancellation, then SIGKILL after AB_PROC_KILL_GRACE_MS. stdin is inherited; stdout and stderr
 * are pipes, each captured up to AB_PROC_OUTPUT_CAP bytes (the rest is read and discarded and
 * the text AB_PROC_TRUNC_MARK is appended, so a chatty child never blocks on a full pipe).
 */
#ifndef AB_ACTORS_PROC_H
#define AB_ACTORS_PROC_H

#include "actors/runtime.h"

enum {
    AB_MSG_PROC_EXEC = AB_MSG_USER + 16,
    AB_MSG_PROC_ABORT,
};

#define AB_PROC_OUTPUT_CAP (16u << 20)
#define AB_PROC_TRUNC_MARK "\n[agent-block: output truncated at 16777216 bytes]\n"
#define AB_PROC_KILL_GRACE_MS 1000

/* Spawns the proc actor (AB_ACTOR_IO) on rt and returns its handle. Any thread, once per
 * runtime. Its state is freed by the runtime at shutdown (children still running are killed
 * with SIGKILL and reaped). */
ab_handle ab_proc_spawn(ab_rt *rt);

#endif
