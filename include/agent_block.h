/*
 * agent_block.h - the public embedding API of agent-block.
 *
 * A host program fills an ab_config, optionally creates a cancel token, and calls ab_run(),
 * which runs one Lua agent script to completion on the actor runtime and returns how it ended.
 * Everything else in the library is internal (ab__ / static symbols, headers under src/).
 *
 * Threading: ab_run() may be called from any thread; it blocks that thread until the run is
 * over. Several runs may not share one process at the same time (the runtime owns process-wide
 * things: signal handlers when asked, the environment overlay read by .env loading).
 */
#ifndef AGENT_BLOCK_H
#define AGENT_BLOCK_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AB_VERSION "0.1.0"
#define AB_UPSTREAM_VERSION "0.25.0"

/* How a run ended (the return value of ab_run). The message printed by the CLI after
 * "Error: " starts with the upstream prefix of each kind. */
typedef enum ab_run_status {
    AB_RUN_OK = 0,
    AB_RUN_SCRIPT_ERROR = 1,  /* "script error: ..." unreadable script, syntax or runtime error */
    AB_RUN_RUNTIME_ERROR = 2, /* "runtime error: ..." configuration, storage, VM start-up */
    AB_RUN_MESH_ERROR = 3,    /* "mesh error: ..." */
    AB_RUN_MCP_ERROR = 4,     /* "MCP error: ..." / "timeout: ..." from the final disconnect */
    AB_RUN_CANCELLED = 5,     /* "cancelled": the cancel token fired or a signal arrived */
} ab_run_status;

/* A cancel token: a one-shot flag an embedding caller fires from any thread (or a signal
 * handler context: ab_cancel_token_cancel is async-signal-safe) to stop a run. */
typedef struct ab_cancel_token ab_cancel_token;

/* Creates a token (never NULL; aborts on out-of-memory). Free it with ab_cancel_token_free
 * after the run that uses it has returned. */
ab_cancel_token *ab_cancel_token_new(void);
/* Fires the token. Idempotent; any thread; async-signal-safe. */
void ab_cancel_token_cancel(ab_cancel_token *tok);
/* 1 once the token has fired, else 0. */
int ab_cancel_token_is_cancelled(const ab_cancel_token *tok);
void ab_cancel_token_free(ab_cancel_token *tok);

/* Host (C) handler for bus events of one kind (used by the bus; see docs/embedding.md).
 * payload_json/meta_json are canonical JSON text owned by the caller for the duration of the
 * call. To answer, set *reply_json to a malloc'ed JSON text (or leave NULL for JSON null) and
 * return 0; return non-zero with *reply_json set to a malloc'ed message to fail the event. */
typedef int (*ab_host_handler_fn)(void *ud, const char *kind, const char *id,
                                  const char *payload_json, const char *meta_json,
                                  char **reply_json);

typedef struct ab_host_handler {
    const char *kind;
    ab_host_handler_fn fn;
    void *ud;
} ab_host_handler;

/* Run configuration. Initialise with ab_config_init, then set fields. Strings are borrowed
 * for the duration of ab_run. */
typedef struct ab_config {
    const char *script_path;       /* required: the Lua script to run */
    const char *project_root;      /* default "." (.env, blocks/, std.env.project_root()) */
    const char *relay_url;         /* mesh relay, NULL = no mesh */
    const char *secret_key;        /* 64 hex chars (Ed25519 seed), NULL = fresh identity */
    unsigned mcp_rpc_timeout_secs; /* default 30; 0 is rejected ("rpc_timeout must be > 0") */
    const char *prompt;            /* _PROMPT, NULL = absent */
    size_t prompt_len;
    const char *context; /* _CONTEXT, NULL = absent */
    size_t context_len;
    int workers;               /* handler VMs (bus dispatch); default 1 */
    int threads;               /* worker threads; 0 = number of CPUs */
    size_t vm_memory_limit;    /* bytes per Lua VM; 0 = unlimited */
    unsigned vm_step_limit_ms; /* max run time of one uninterrupted Lua step; 0 = unlimited */
    int load_dotenv;           /* 1 (default): load <project_root>/.env without overriding */
    int handle_signals;        /* 1: SIGINT/SIGTERM cancel the run, a second one exits at once */
    ab_cancel_token *cancel;   /* optional */
    const ab_host_handler *host_handlers; /* optional array */
    size_t n_host_handlers;
    int auto_serve_bus; /* 1: dispatch bus events to host handlers in the background */
} ab_config;

/* Fills cfg with the defaults above. */
void ab_config_init(ab_config *cfg);

/* Runs the script described by cfg and returns how it ended. When the result is not AB_RUN_OK
 * and errmsg is not NULL, *errmsg receives a malloc'ed message (free with free()), e.g.
 * "script error: lua error: runtime error: @x.lua:3: boom". Blocks the calling thread. */
ab_run_status ab_run(const ab_config *cfg, char **errmsg);

/* The signal number (SIGINT, SIGTERM) that cancelled the last ab_run with handle_signals set,
 * 0 if none. The CLI exits with 128 + this value when a run ends AB_RUN_CANCELLED by signal. */
int ab_last_signal(void);

/* "agent-block 0.1.0 (upstream 0.25.0)" */
const char *ab_version_string(void);

#ifdef __cplusplus
}
#endif
#endif
