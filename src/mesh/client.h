/*
 * client.h - a small blocking mesh client over a plain socket (poll with timeouts), for the
 * test peer and the load generator: WebSocket upgrade, auth (hello/challenge/response or
 * resume), send/receive text messages and raw bytes. Not used by agent-block itself (the mesh
 * link is an actor on the I/O loop). One client per thread.
 */
#ifndef AB_MESH_CLIENT_H
#define AB_MESH_CLIENT_H

#include <stddef.h>

#include "mesh/envelope.h"
#include "mesh/ws.h"

typedef struct ab_mesh_sc_msg {
    struct ab_mesh_sc_msg *next;
    int op;
    size_t len;
    char text[]; /* NUL-terminated */
} ab_mesh_sc_msg;

typedef struct ab_mesh_sc {
    int fd;
    ab_ws ws;
    ab_mesh_sc_msg *q, *qtail;
    int closed;
    char token[AB_MESH_UUID_LEN + 1];
} ab_mesh_sc;

/* TCP connect to host:port (IPv4 literal) and, if path != NULL, the WebSocket upgrade.
 * Returns 0 or -1. */
int ab_mesh_sc_open(ab_mesh_sc *c, const char *host, int port, const char *path, int timeout_ms);
/* Sends a text message / raw bytes. 0 or -1. */
int ab_mesh_sc_send_text(ab_mesh_sc *c, const char *s, size_t n);
int ab_mesh_sc_send_raw(ab_mesh_sc *c, const void *p, size_t n);
/* Waits for the next text message; *out is malloc'ed (caller frees). Returns 0, -1 on timeout,
 * -2 when the connection is closed. timeout_ms 0 reads once what the socket holds (never
 * blocks). */
int ab_mesh_sc_recv(ab_mesh_sc *c, int timeout_ms, char **out, size_t *len);
/* Full auth (or resume when resume != 0 and c->token is set). Returns 0; -1 with the relay's
 * AuthResult error copied into err (cap bytes) or a local reason. */
int ab_mesh_sc_auth(ab_mesh_sc *c, const ab_mesh_identity *id, int resume, char *err, size_t cap);
/* Builds, signs and sends a plaintext envelope; id_out (may be NULL) gets its id. */
int ab_mesh_sc_send_env(ab_mesh_sc *c, const ab_mesh_identity *id, const char *to,
                        ab_mesh_type type, const char *reply_to, const char *payload_json,
                        char *id_out);
void ab_mesh_sc_close(ab_mesh_sc *c);

#endif
