/*
 * relay.h - `agent-block relay`: a mesh relay compatible with agent-mesh 0.3.2 (spec mesh §7)
 * running on the actor runtime: sockets and routing on its I/O loop, signature verification on
 * its worker threads (per-sender order kept).
 *
 * Same wire behaviour as the Rust relay (auth challenge / resume tokens, envelope checks with
 * full signature verification, per-sender token bucket, per-target delivery as one text frame,
 * offline buffer flushed on (re)auth, ping after idle, reaping, never originating envelopes),
 * plus the SHOULDs of §7.5/§15.2: auth timeout, superseded and reaped sockets closed,
 * identity-checked unregister, byte caps on messages and buffers, purge of tokens and buckets,
 * `to` must be a valid AgentId, and a log line for every message or socket it drops.
 * Counters are served at GET /metrics (Prometheus names of the Rust relay plus per-reason
 * drop counters) and logged on SIGUSR1, every stats_ms, and at exit.
 */
#ifndef AB_MESH_RELAY_H
#define AB_MESH_RELAY_H

#include <stddef.h>
#include <stdint.h>

typedef struct ab_relay_config {
    const char *listen;        /* "HOST:PORT" (default 127.0.0.1:9800) */
    double rate, burst;        /* token bucket per sender: 50 / 100 */
    size_t max_msg;            /* bytes per message (default 1 MiB) */
    unsigned buffer_msgs;      /* offline buffer per target (100) */
    size_t buffer_bytes;       /* offline buffer bytes per target (4 MiB) */
    size_t buffer_total_bytes; /* all offline buffers together (64 MiB) */
    unsigned buffer_ttl_ms;    /* 300000 */
    unsigned token_ttl_ms;     /* resume token lifetime, 300000 */
    unsigned auth_timeout_ms;  /* close sockets not authenticated by then, 10000 */
    unsigned ping_after_ms;    /* 60000 */
    unsigned reap_after_ms;    /* 90000 */
    unsigned reap_interval_ms; /* 30000 */
    size_t write_queue_bytes;  /* drop for a target whose socket has this much queued (16 MiB) */
    unsigned max_conns;        /* 10000 */
    unsigned stats_ms;         /* periodic counter log, 0 = off */
    int threads;               /* worker threads verifying signatures, <= 0 = number of CPUs */
} ab_relay_config;

/* Defaults, then overrides from the environment (for tests and operators):
 * AGENT_BLOCK_RELAY_RATE, _BURST, _MAX_MSG, _BUFFER_MSGS, _BUFFER_TTL_MS, _TOKEN_TTL_MS,
 * _AUTH_TIMEOUT_MS, _PING_AFTER_MS, _REAP_AFTER_MS, _REAP_INTERVAL_MS, _STATS_MS. */
void ab_relay_config_default(ab_relay_config *c);

/* Runs the relay until SIGINT/SIGTERM (then closes every agent socket with a Close frame,
 * logs the counters, and returns 0). Prints "relay listening on HOST:PORT" (the bound port,
 * so port 0 works) to stdout once listening. Returns 1 with a message on stderr when the
 * address is invalid or cannot be bound. Call from the main thread. */
int ab_relay_run(const ab_relay_config *c);

#endif
