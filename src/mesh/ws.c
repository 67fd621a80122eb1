/*
 * ws.c - RFC 6455 codec (ws.h).
 */
#include "mesh/ws.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "core/common.h"

static const char GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
#define SKIP_SLICE 65536 /* skip mode: input moved into the buffer at a time */

void ab_ws_init(ab_ws *ws, int client, size_t max_msg)
{
    memset(ws, 0, sizeof *ws);
    ws->client = client;
    ws->max_msg = max_msg;
    ab_buf_init(&ws->in);
    ab_buf_init(&ws->msg);
}

void ab_ws_set_skip(ab_ws *ws, int on)
{
    AB_ASSERT(on || !ws->skipping);
    ws->skip_big = on != 0;
}

void ab_ws_free(ab_ws *ws)
{
    ab_buf_free(&ws->in);
    ab_buf_free(&ws->msg);
}

static void accept_key(const char *key, size_t klen, char out[32])
{
    unsigned char dig[20];
    unsigned int n = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    AB_ASSERT(c != NULL);
    EVP_DigestInit_ex(c, EVP_sha1(), NULL);
    EVP_DigestUpdate(c, key, klen);
    EVP_DigestUpdate(c, GUID, sizeof GUID - 1);
    EVP_DigestFinal_ex(c, dig, &n);
    EVP_MD_CTX_free(c);
    sodium_bin2base64(out, 32, dig, 20, sodium_base64_VARIANT_ORIGINAL);
}

void ab_ws_client_request(ab_ws *ws, const char *host, const char *path, ab_buf *out)
{
    unsigned char nonce[16];
    randombytes_buf(nonce, sizeof nonce);
    sodium_bin2base64(ws->key, sizeof ws->key, nonce, 16, sodium_base64_VARIANT_ORIGINAL);
    char *req = ab_xasprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                             "Sec-WebSocket-Version: 13\r\n\r\n",
                             path, host, ws->key);
    ab_buf_append(out, req, strlen(req));
    free(req);
}

/* Value of header `name` in head (NUL-terminated, CRLF lines), trimmed, into out. */
static int header(const char *head, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = strstr(head, "\r\n");
    while (p && p[2]) {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1, *e = strstr(v, "\r\n");
            if (!e)
                return -1;
            while (v < e && (*v == ' ' || *v == '\t'))
                v++;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if ((size_t)(e - v) >= cap)
                return -1;
            memcpy(out, v, (size_t)(e - v));
            out[e - v] = '\0';
            return 0;
        }
        p = strstr(p, "\r\n");
    }
    return -1;
}

static int has_token(const char *v, const char *tok)
{
    size_t n = strlen(tok);
    for (const char *p = v; *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        if (strncasecmp(p, tok, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
            return 1;
        while (*p && *p != ',')
            p++;
    }
    return 0;
}

static int fail(ab_ws *ws, ab_buf *out, int code, const char *why)
{
    ws->error = why;
    if (ws->state == AB_WS_OPEN && code)
        ab_ws_close(ws, out, code);
    ws->state = AB_WS_CLOSED;
    return -1;
}

static int do_handshake(ab_ws *ws, ab_buf *out, int (*path_ok)(const char *), ab_ws_http *http)
{
    const char *base = ws->in.data + ws->in_off;
    size_t avail = ws->in.len - ws->in_off;
    const char *end = NULL;
    for (size_t i = 3; i < avail; i++) {
        if (base[i] == '\n' && base[i - 1] == '\r' && base[i - 2] == '\n' && base[i - 3] == '\r') {
            end = base + i + 1;
            break;
        }
    }
    if (!end) {
        if (avail > AB_WS_MAX_HEAD)
            return fail(ws, out, 0, "HTTP head too large");
        return 0;
    }
    size_t hl = (size_t)(end - base);
    char *head = ab_xstrndup(base, hl);
    ws->in_off += hl;
    char val[128];
    int rc = -1;
    if (ws->client) {
        int status = 0;
        char want[32];
        if (sscanf(head, "HTTP/1.1 %d", &status) != 1 || status != 101) {
            fail(ws, out, 0, "upgrade refused");
            goto out;
        }
        accept_key(ws->key, strlen(ws->key), want);
        if (header(head, "Sec-WebSocket-Accept", val, sizeof val) != 0 || strcmp(val, want) != 0) {
            fail(ws, out, 0, "bad Sec-WebSocket-Accept");
            goto out;
        }
        ws->state = AB_WS_OPEN;
        rc = 0;
        goto out;
    }
    char method[8], path[256];
    if (sscanf(head, "%7s %255s HTTP/1.%*c", method, path) != 2 || strcmp(method, "GET") != 0) {
        fail(ws, out, 0, "bad request line");
        goto out;
    }
    int upgrade =
        header(head, "Upgrade", val, sizeof val) == 0 && strcasecmp(val, "websocket") == 0;
    if (upgrade && header(head, "Connection", val, sizeof val) == 0 && has_token(val, "upgrade") &&
        header(head, "Sec-WebSocket-Version", val, sizeof val) == 0 && strcmp(val, "13") == 0 &&
        header(head, "Sec-WebSocket-Key", val, sizeof val) == 0 && (!path_ok || path_ok(path))) {
        char acc[32];
        accept_key(val, strlen(val), acc);
        char *resp = ab_xasprintf("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                  "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                                  acc);
        ab_buf_append(out, resp, strlen(resp));
        free(resp);
        snprintf(ws->path, sizeof ws->path, "%s", path);
        ws->state = AB_WS_OPEN;
        rc = 0;
        goto out;
    }
    if (http) {
        snprintf(http->path, sizeof http->path, "%s", path);
        http->is_upgrade = upgrade;
        ws->state = AB_WS_CLOSED;
        rc = 1;
        goto out;
    }
    fail(ws, out, 0, "not a WebSocket upgrade");
out:
    free(head);
    return rc;
}

int ab_ws_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        /* ASCII runs (all of a mesh envelope) eight bytes at a time */
        uint64_t w;
        while (i + 8 <= n && (memcpy(&w, s + i, 8), !(w & 0x8080808080808080ull)))
            i += 8;
        if (i >= n)
            break;
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        unsigned min;
        if (c >= 0xC2 && c < 0xE0) {
            k = 1;
            min = 0x80;
        } else if (c >= 0xE0 && c < 0xF0) {
            k = 2;
            min = 0x800;
        } else if (c >= 0xF0 && c < 0xF5) {
            k = 3;
            min = 0x10000;
        } else {
            return 0;
        }
        if (i + k >= n)
            return 0;
        unsigned cp = c & (0x3F >> k);
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* XORs p[0..n) with the 4-byte mask, eight bytes at a time (a frame's mask starts at its
 * first payload byte, so the pattern is the mask twice over). */
static void unmask(unsigned char *p, size_t n, const unsigned char mask[4])
{
    unsigned char m8[8];
    uint64_t m, w;
    memcpy(m8, mask, 4);
    memcpy(m8 + 4, mask, 4);
    memcpy(&m, m8, 8);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        w ^= m;
        memcpy(p + i, &w, 8);
    }
    for (; i < n; i++)
        p[i] ^= mask[i & 3];
}

/* The frame head (FIN set) without a masking key; m = 0x80 marks it masked. */
static size_t frame_head(unsigned char h[10], int op, size_t len, unsigned char m)
{
    h[0] = (unsigned char)(0x80 | op);
    if (len < 126) {
        h[1] = (unsigned char)(m | len);
        return 2;
    }
    if (len < 65536) {
        h[1] = m | 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        return 4;
    }
    h[1] = m | 127;
    for (int i = 0; i < 8; i++)
        h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    return 10;
}

size_t ab_ws_server_head(char out[10], int op, size_t len)
{
    return frame_head((unsigned char *)out, op, len, 0);
}

void ab_ws_frame(const ab_ws *ws, ab_buf *out, int op, const void *data, size_t len)
{
    unsigned char h[14];
    size_t hn = frame_head(h, op, len, ws->client ? 0x80 : 0);
    if (!ws->client) {
        ab_buf_append(out, h, hn);
        ab_buf_append(out, data, len);
        return;
    }
    unsigned char mask[4];
    ab_random(mask, 4);
    memcpy(h + hn, mask, 4);
    hn += 4;
    ab_buf_append(out, h, hn);
    size_t at = out->len;
    ab_buf_append(out, data, len);
    unmask((unsigned char *)out->data + at, len, mask);
}

void ab_ws_close(ab_ws *ws, ab_buf *out, int code)
{
    unsigned char c[2] = {(unsigned char)(code >> 8), (unsigned char)code};
    ab_ws_frame(ws, out, AB_WS_CLOSE, c, code ? 2 : 0);
}

/* Skip mode: drops what has arrived of the payload being discarded; 1 when that frame is
 * done (and with it the skipped message if it was the last frame), 0 if more bytes are due. */
static int discard(ab_ws *ws)
{
    size_t avail = ws->in.len - ws->in_off;
    size_t n = ws->skip_left < avail ? (size_t)ws->skip_left : avail;
    ws->in_off += n;
    ws->skip_left -= n;
    if (ws->skip_left)
        return 0;
    if (ws->skip_fin) {
        ws->skipping = 0;
        ws->msg_op = 0;
    }
    return 1;
}

/* Skip mode: the head (hn bytes, mask included) of a data frame that belongs to an oversized
 * message has been checked; starts discarding its payload. Same returns as one_frame. */
static int skip_frame(ab_ws *ws, int op, int fin, uint64_t len, size_t hn, ab_ws_on_msg cb,
                      void *ud)
{
    ws->in_off += hn;
    ws->skip_left = len;
    ws->skip_fin = fin;
    int r = 1;
    if (!ws->skipping) {
        uint64_t seen = ws->msg.len + len;
        ws->skipping = 1;
        if (op != 0)
            ws->msg_op = op;
        ws->msg.len = 0;
        if (ws->msg.cap > 65536) /* do not keep a cap-sized buffer for the skipped message */
            ab_buf_free(&ws->msg);
        r = cb && cb(ud, AB_WS_TOOBIG, NULL, (size_t)seen) ? 2 : 1;
    }
    int d = discard(ws);
    return r == 2 ? 2 : d;
}

/* Parses one frame at the read position; returns 1 if a frame was consumed, 0 if more bytes
 * are needed, -1 on error, 2 if the callback stopped. */
static int one_frame(ab_ws *ws, ab_buf *out, ab_ws_on_msg cb, void *ud)
{
    if (ws->skip_left)
        return discard(ws);
    const unsigned char *p = (const unsigned char *)ws->in.data + ws->in_off;
    size_t avail = ws->in.len - ws->in_off;
    if (avail < 2)
        return 0;
    int fin = p[0] & 0x80, op = p[0] & 0x0F, masked = p[1] & 0x80;
    if (p[0] & 0x70)
        return fail(ws, out, 1002, "reserved bits set");
    if (masked != (ws->client ? 0 : 0x80))
        return fail(ws, out, 1002, ws->client ? "masked frame from server" : "unmasked frame");
    uint64_t len = p[1] & 0x7F;
    size_t hn = 2;
    if (len == 126) {
        if (avail < 4)
            return 0;
        len = (uint64_t)p[2] << 8 | p[3];
        hn = 4;
    } else if (len == 127) {
        if (avail < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
        hn = 10;
    }
    int control = op >= 8;
    if (control && (len > 125 || !fin))
        return fail(ws, out, 1002, "bad control frame");
    if (!control && op != 0 && op != AB_WS_TEXT && op != AB_WS_BINARY)
        return fail(ws, out, 1002, "unknown opcode");
    if (!control && ((op == 0) != (ws->msg_op != 0)))
        return fail(ws, out, 1002, "bad continuation");
    size_t mk = masked ? 4 : 0;
    if (!control && (ws->skipping || len > ws->max_msg || ws->msg.len + len > ws->max_msg)) {
        if (!ws->skip_big)
            return fail(ws, out, 1009, "message too big");
        if (len >> 63)
            return fail(ws, out, 1002, "bad frame length");
        if (avail < hn + mk)
            return 0;
        return skip_frame(ws, op, fin, len, hn + mk, cb, ud);
    }
    if (avail < hn + mk + len)
        return 0;
    const unsigned char *mask = p + hn;
    unsigned char *data = (unsigned char *)p + hn + mk;
    if (masked)
        unmask(data, (size_t)len, mask);
    ws->in_off += hn + mk + (size_t)len;
    if (control) {
        if (op == AB_WS_PING) {
            ab_ws_frame(ws, out, AB_WS_PONG, data, (size_t)len);
            return cb && cb(ud, AB_WS_PING, (const char *)data, (size_t)len) ? 2 : 1;
        }
        if (op == AB_WS_PONG)
            return cb && cb(ud, AB_WS_PONG, (const char *)data, (size_t)len) ? 2 : 1;
        if (op == AB_WS_CLOSE) {
            ws->close_code = len >= 2 ? (data[0] << 8 | data[1]) : 0;
            ab_ws_close(ws, out, ws->close_code ? 1000 : 0);
            ws->state = AB_WS_CLOSED;
            if (cb)
                cb(ud, AB_WS_CLOSE, NULL, 0);
            return 2;
        }
        return fail(ws, out, 1002, "unknown control opcode");
    }
    if (op != 0)
        ws->msg_op = op;
    if (fin && ws->msg.len == 0) {
        /* unfragmented: no copy */
        int mop = ws->msg_op;
        ws->msg_op = 0;
        if (mop == AB_WS_TEXT && !ab_ws_utf8_valid((const char *)data, (size_t)len))
            return fail(ws, out, 1007, "invalid UTF-8");
        return cb && cb(ud, mop, (const char *)data, (size_t)len) ? 2 : 1;
    }
    ab_buf_append(&ws->msg, data, (size_t)len);
    if (!fin)
        return 1;
    int mop = ws->msg_op;
    ws->msg_op = 0;
    if (mop == AB_WS_TEXT && !ab_ws_utf8_valid(ws->msg.data, ws->msg.len))
        return fail(ws, out, 1007, "invalid UTF-8");
    int r = cb && cb(ud, mop, ws->msg.data, ws->msg.len) ? 2 : 1;
    ws->msg.len = 0;
    return r;
}

/* ab_ws_feed for one slice of input. */
static int feed_slice(ab_ws *ws, const char *data, size_t len, ab_buf *out, ab_ws_on_msg cb,
                      void *ud, int (*path_ok)(const char *path), ab_ws_http *http)
{
    ab_buf_append(&ws->in, data, len);
    int rc = 0;
    if (ws->state == AB_WS_HANDSHAKE) {
        rc = do_handshake(ws, out, path_ok, http);
        if (rc != 0 || ws->state != AB_WS_OPEN)
            goto compact;
    }
    for (;;) {
        int r = one_frame(ws, out, cb, ud);
        if (r == 1 && ws->state == AB_WS_OPEN)
            continue;
        rc = r < 0 ? -1 : r == 2 ? 2 : 0;
        break;
    }
compact:
    if (ws->in_off == ws->in.len) {
        ws->in.len = ws->in_off = 0;
    } else if (ws->in_off > 65536 && ws->in_off * 2 > ws->in.len) {
        memmove(ws->in.data, ws->in.data + ws->in_off, ws->in.len - ws->in_off);
        ws->in.len -= ws->in_off;
        ws->in_off = 0;
    }
    return rc;
}

int ab_ws_feed(ab_ws *ws, const char *data, size_t len, ab_buf *out, ab_ws_on_msg cb, void *ud,
               int (*path_ok)(const char *path), ab_ws_http *http)
{
    if (ws->state == AB_WS_CLOSED)
        return -1;
    if (!ws->skip_big)
        return feed_slice(ws, data, len, out, cb, ud, path_ok, http);
    /* skip mode: slices, so that a large input being discarded is never copied whole */
    size_t done = 0;
    int rc;
    do {
        size_t n = len - done < SKIP_SLICE ? len - done : SKIP_SLICE;
        rc = feed_slice(ws, data + done, n, out, cb, ud, path_ok, http);
        done += n;
    } while (rc == 0 && done < len && ws->state != AB_WS_CLOSED);
    if (rc > 0 && done < len) /* kept for the next call, as without slices */
        ab_buf_append(&ws->in, data + done, len - done);
    return rc;
}
