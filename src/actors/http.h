/*
 * http.h - the http actor: every HTTP transfer of the process (spec core §4.3) over ONE curl
 * multi handle driven by the I/O loop (curl's multi_socket API: a uv_poll_t per socket that
 * curl asks to watch and one uv_timer_t for curl's timeouts), so any number of transfers from
 * any number of coroutines and VMs run concurrently on the I/O thread, reusing connections.
 *
 * Messages (src = the requesting VM; xid = a transfer id unique in the process, chosen by the
 * requester with ab_http_next_id):
 *   AB_MSG_HTTP_REQUEST (call) body: msgpack [xid, url, method, headers (array of "Name: value"),
 *       body (str or nil), timeout_s, stream (bool), tls_insecure (bool), ca_file (str or nil)]
 *       -> reply [status (int), headers (map: lower-case name -> value), data (bin), eof (bool)].
 *          Non-stream: data = the whole body, eof = true. Stream: the first bytes of the body
 *          (sent as soon as some arrived, or at the end), then AB_MSG_HTTP_PULL for more.
 *       -> error reply with the complete Lua error text: "http timeout after <N>s: ...",
 *          "http connection error: ...", "http request error: ...", "http read body error: ...",
 *          "http stream read error: ...", "response body too large: <n> bytes (max 10485760)".
 *   AB_MSG_HTTP_PULL (call) body [xid] -> reply [data (bin), eof (bool)] when data is buffered
 *       or the transfer ended (stream mode only); errors as above.
 *   AB_MSG_HTTP_ABORT body [xid]: the transfer is removed from the multi handle at once; no reply.
 * Limits: non-stream bodies above AB_HTTP_MAX_BODY fail; a stream buffers at most about
 * AB_HTTP_STREAM_HIGH bytes between pulls (then the transfer is paused: backpressure).
 * Redirects: up to 10, http/https only. TLS peer and host verification are on unless
 * tls_insecure; ca_file replaces the system roots.
 */
#ifndef AB_ACTORS_HTTP_H
#define AB_ACTORS_HTTP_H

#include <stdint.h>

#include "actors/runtime.h"

enum {
    AB_MSG_HTTP_REQUEST = AB_MSG_USER + 32,
    AB_MSG_HTTP_PULL,
    AB_MSG_HTTP_ABORT,
};

#define AB_HTTP_MAX_BODY 10485760u
#define AB_HTTP_STREAM_HIGH (1u << 20)

/* Spawns the http actor (AB_ACTOR_IO) and returns its handle; initialises libcurl once per
 * process (thread-safe). Any thread. Transfers still running at shutdown are aborted. */
ab_handle ab_http_spawn(ab_rt *rt);

/* A fresh transfer id (never 0, never reused in the process). Any thread. */
uint64_t ab_http_next_id(void);

#endif
