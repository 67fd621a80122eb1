/*
 * ws.h - a small RFC 6455 WebSocket codec (no I/O): the HTTP/1.1 upgrade for client and
 * server, frame encoding (client frames masked), and an incremental parser that reassembles
 * fragmented messages, answers pings, and enforces caps before buffering anything.
 * A message over the cap fails the connection (1009), or, in the opt-in skip mode
 * (ab_ws_set_skip), is discarded as its bytes arrive and reported with AB_WS_TOOBIG.
 *
 * Scope is what the mesh needs: no extensions (RSV bits must be 0), no subprotocol, text and
 * binary messages (binary ones are reported and ignored by the mesh), close handshake. The
 * owner feeds received bytes with ab_ws_feed and writes whatever the codec appends to `out`.
 * One codec per connection; single-threaded.
 */
#ifndef AB_MESH_WS_H
#define AB_MESH_WS_H

#include <stddef.h>
#include <stdint.h>

#include "codec/mpack.h" /* ab_buf */

#define AB_WS_MAX_HEAD 8192 /* bytes of HTTP head accepted */

enum { AB_WS_TEXT = 1, AB_WS_BINARY = 2, AB_WS_CLOSE = 8, AB_WS_PING = 9, AB_WS_PONG = 10 };
/* Not a wire opcode: what the callback gets for a message skipped in skip mode. */
enum { AB_WS_TOOBIG = 16 };

typedef enum ab_ws_state {
    AB_WS_HANDSHAKE = 0,
    AB_WS_OPEN,
    AB_WS_CLOSED,
} ab_ws_state;

/* Result of a server-side upgrade request that is not a WebSocket (plain HTTP GET). */
typedef struct ab_ws_http {
    char path[256];
    int is_upgrade;
} ab_ws_http;

typedef struct ab_ws {
    int client;
    ab_ws_state state;
    size_t max_msg; /* cap on a (reassembled) message */
    ab_buf in;      /* unparsed input */
    size_t in_off;
    ab_buf msg;         /* message being reassembled */
    int msg_op;         /* opcode of the message being reassembled, 0 = none */
    int skip_big;       /* skip mode: oversized messages are discarded, not fatal */
    int skipping;       /* the data message in progress is being discarded */
    int skip_fin;       /* the frame being discarded is that message's last */
    uint64_t skip_left; /* payload bytes of that frame still to discard */
    char key[32];       /* client: the Sec-WebSocket-Key sent */
    char path[256];     /* server: request path */
    int close_code;     /* from the peer's close frame, 0 = none */
    const char *error;  /* static text of the protocol error that closed the codec */
} ab_ws;

/* What ab_ws_feed reports for each complete message (opcode TEXT or BINARY), ping, pong or
 * close, and in skip mode AB_WS_TOOBIG once per skipped message (data NULL, len = the bytes of
 * the message up to and including the frame that crossed the cap, as declared by the frame
 * heads: the whole size for an unfragmented message, a lower bound for a fragmented one).
 * data is borrowed until the callback returns. Return non-zero to stop feeding. */
typedef int (*ab_ws_on_msg)(void *ud, int op, const char *data, size_t len);

void ab_ws_init(ab_ws *ws, int client, size_t max_msg);
/* Skip mode on (1) or off (0); off after ab_ws_init. On, a data message whose reassembled size
 * would exceed max_msg is not an error: the fragments buffered so far are freed, its payload is
 * discarded as it arrives (frame heads are still parsed and checked, control frames between
 * its fragments still handled), the callback gets AB_WS_TOOBIG once, and the next message is
 * delivered as usual; a text message skipped is not checked for UTF-8. ab_ws_feed then moves
 * at most 64 KiB of input into the codec's buffer at a time, so the input buffered stays under
 * max_msg plus 64 KiB whatever the caller feeds. A 64-bit length with its top bit set (RFC 6455
 * §5.2) is a protocol error (1002) in this mode. May be switched on at any time; switching it
 * off while a message is being skipped is a programmer error. Owner thread only. */
void ab_ws_set_skip(ab_ws *ws, int on);
void ab_ws_free(ab_ws *ws);

/* Client: appends the upgrade request for host (Host header) and path to out. */
void ab_ws_client_request(ab_ws *ws, const char *host, const char *path, ab_buf *out);

/* Feeds received bytes. Server side: while in the handshake, a complete request head produces
 * either the 101 answer in `out` (state OPEN; ws->path set) when it is an upgrade for a path
 * accepted by path_ok (NULL = any), or fills *http (when non-NULL) and returns 1 so the owner
 * can answer a plain GET itself. Client side: a complete 101 answer with the right accept key
 * opens the codec. Frames: messages go to cb; pings are answered in out; a close is answered
 * and the state becomes CLOSED. Returns 0 (continue), 1 (plain HTTP, server only), or -1 on
 * a protocol error / cap exceeded outside skip mode (ws->error says which; a close frame
 * 1002/1007/1009 is appended to out when the codec was open), or 2 when the callback asked to
 * stop (the input not parsed yet stays in the codec for the next call). */
int ab_ws_feed(ab_ws *ws, const char *data, size_t len, ab_buf *out, ab_ws_on_msg cb, void *ud,
               int (*path_ok)(const char *path), ab_ws_http *http);

/* Appends one frame (FIN set) to out; masked when ws->client. */
void ab_ws_frame(const ab_ws *ws, ab_buf *out, int op, const void *data, size_t len);
/* Writes the head of an unmasked (server) frame with FIN set for a payload of len bytes into
 * out and returns its length (2, 4 or 10), so a server can send head and payload as two
 * buffers without copying the payload. Any thread. */
size_t ab_ws_server_head(char out[10], int op, size_t len);
/* Appends a close frame with code (0 = none). */
void ab_ws_close(ab_ws *ws, ab_buf *out, int code);

/* 1 if s[0..n) is valid UTF-8. */
int ab_ws_utf8_valid(const char *s, size_t n);

#endif
