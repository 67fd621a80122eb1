/*
 * embed.c - embedding agent-block in a C program.
 *
 *   embed_example SCRIPT [CANCEL_AFTER_MS]
 *
 * Runs SCRIPT with the library (no CLI involved). With CANCEL_AFTER_MS, a second thread fires a
 * cancel token after that many milliseconds; the run then ends with AB_RUN_CANCELLED. Prints
 * the outcome as "status=<n> message=<text>" and exits 0 if the run ended as expected
 * (ok without a cancel, cancelled with one).
 *
 * A host (C) handler is registered for bus events of kind "worker_result" with auto-serve on
 * (spec core §2.6, §4.9.6): a script's bus.emit("worker_result", ...) reaches host_handler,
 * which prints "host handler got <payload>".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "agent_block.h"

typedef struct canceller {
    ab_cancel_token *tok;
    long ms;
} canceller;

static void *cancel_later(void *arg)
{
    canceller *c = arg;
    struct timespec ts = {c->ms / 1000, (c->ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    ab_cancel_token_cancel(c->tok);
    return NULL;
}

/* Runs on the bus actor's thread; payload_json is canonical JSON (sorted keys). */
static int host_handler(void *ud, const char *kind, const char *id, const char *payload_json,
                        const char *meta_json, char **reply_json)
{
    (void)ud;
    (void)id;
    (void)meta_json;
    printf("host handler got %s %s\n", kind, payload_json);
    fflush(stdout);
    *reply_json = NULL; /* ack: JSON null */
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s SCRIPT [CANCEL_AFTER_MS]\n", argv[0]);
        return 2;
    }
    ab_config cfg;
    ab_config_init(&cfg);
    cfg.script_path = argv[1];
    cfg.prompt = "from the embedding program";
    cfg.threads = 2;
    static const ab_host_handler handlers[] = {{"worker_result", host_handler, NULL}};
    cfg.host_handlers = handlers;
    cfg.n_host_handlers = 1;
    cfg.auto_serve_bus = 1;

    ab_cancel_token *tok = ab_cancel_token_new();
    cfg.cancel = tok;
    pthread_t th;
    canceller c = {tok, argc > 2 ? atol(argv[2]) : -1};
    if (c.ms >= 0)
        pthread_create(&th, NULL, cancel_later, &c);

    char *msg = NULL;
    ab_run_status st = ab_run(&cfg, &msg);
    printf("status=%d message=%s\n", (int)st, msg ? msg : "");
    free(msg);

    if (c.ms >= 0)
        pthread_join(th, NULL);
    ab_cancel_token_free(tok);
    return (c.ms >= 0) ? (st == AB_RUN_CANCELLED ? 0 : 1) : (st == AB_RUN_OK ? 0 : 1);
}
