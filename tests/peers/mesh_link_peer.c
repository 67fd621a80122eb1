/*
 * mesh_link_peer.c - hostile peers, through `agent-block relay`, against an agent-block agent's
 * mesh link (actors/mesh_link.c + mesh_crypto.c). Run by tests/cli/mesh_link_hostile.sh:
 *
 *   mesh_link_peer PORT AGENT_ID AGENT_PID
 *
 * The agent serves mesh.on with: non-table payload -> {"kind":type(p)}; p.big ->
 * {"len":#p.big}; else {"echo":p.q}. An honest peer with a Noise session checks after every
 * case that an encrypted request still gets exactly its answer. Cases: many identities that
 * send msg1 and never finish (the agent's RSS must level off), a msg1 flood from one peer,
 * encrypted requests without a session or with garbage ciphertext ({"error":"no_session"},
 * mesh §9.3), well-signed envelopes with malformed handshake payloads (wrong lengths, not a
 * string, a small-order X25519 key, wrong in_reply_to), odd payload types, unhandled message
 * types, replies and cancels for ids the agent never sent (never answered, §16 Q4), and
 * requests at the relay's 1 MiB cap and at the Noise plaintext limit.
 *
 * Prints "ok <case>" or "FAIL <case>: <why>" per case and "rss ..." lines; exits 1 if any failed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "core/common.h"
#include "mesh/client.h"
#include "mesh/envelope.h"
#include "mesh/noise.h"

#include "peer_check.h"

#define CAP (1u << 20) /* the relay's default message cap, also the link's */

static int failures, port, agent_pid;
static const char *agent;

/* A peer: its socket, identity and Noise session with the agent. */
typedef struct np {
    ab_mesh_sc sc;
    ab_mesh_identity id;
    ab_noise_cipher tx, rx;
    int has_session;
    int strays; /* envelopes received that answered nothing we waited for */
} np;

static int np_join(np *p)
{
    char err[200];
    memset(p, 0, sizeof *p);
    ab_mesh_identity_generate(&p->id);
    if (ab_mesh_sc_open(&p->sc, "127.0.0.1", port, "/ws", 5000) != 0)
        return -1;
    return ab_mesh_sc_auth(&p->sc, &p->id, 0, err, sizeof err);
}

/* Builds, signs and sends an envelope to the agent; payload is JSON text. */
static int np_send(np *p, ab_mesh_type type, const char *reply_to, const char *payload, size_t plen,
                   int encrypted, char id_out[AB_MESH_UUID_LEN + 1])
{
    ab_mesh_env e = {0};
    ab_mesh_uuid(e.id);
    strcpy(e.from, p->id.id);
    strcpy(e.to, agent);
    e.type = type;
    if (reply_to) {
        e.has_reply = 1;
        strcpy(e.in_reply_to, reply_to);
    }
    e.encrypted = encrypted;
    e.timestamp = ab_mesh_now_ms();
    if (ab_mesh_env_set_payload(&e, payload, plen) != 0)
        return -1;
    ab_mesh_env_sign(&e, &p->id);
    ab_buf w;
    ab_buf_init(&w);
    ab_mesh_env_wire(&e, &w);
    int rc = ab_mesh_sc_send_text(&p->sc, w.data, w.len);
    if (id_out)
        memcpy(id_out, e.id, sizeof e.id);
    ab_buf_free(&w);
    ab_mesh_env_free(&e);
    return rc;
}

/* The JSON string literal of base64url(b[0..n)); malloc'ed. */
static char *b64_lit(const unsigned char *b, size_t n)
{
    char *s = ab_xmalloc(n / 3 * 4 + 8);
    s[0] = '"';
    size_t k = ab_mesh_b64(b, n, s + 1);
    s[k + 1] = '"';
    s[k + 2] = '\0';
    return s;
}

static int send_b64(np *p, ab_mesh_type type, const char *reply_to, const unsigned char *b,
                    size_t n, int encrypted, char id_out[AB_MESH_UUID_LEN + 1])
{
    char *lit = b64_lit(b, n);
    int rc = np_send(p, type, reply_to, lit, strlen(lit), encrypted, id_out);
    free(lit);
    return rc;
}

/* Waits (up to ms) for the envelope answering id; others are counted as strays. */
static int np_wait(np *p, const char *id, int ms, ab_mesh_env *out)
{
    uint64_t end = ab_now_ms() + (uint64_t)ms;
    for (;;) {
        int left = (int)(end - ab_now_ms());
        char *t;
        size_t n;
        if (left <= 0 || ab_mesh_sc_recv(&p->sc, left, &t, &n) != 0)
            return -1;
        const char *err;
        int rc = ab_mesh_env_parse(t, n, out, &err);
        free(t);
        if (rc != 0)
            continue;
        if (id && out->has_reply && strcmp(out->in_reply_to, id) == 0)
            return 0;
        p->strays++;
        printf("stray: %s in reply to %s: %.100s\n", ab_mesh_type_name(out->type),
               out->has_reply ? out->in_reply_to : "-", out->payload);
        ab_mesh_env_free(out);
    }
}

/* The decoded bytes of a JSON string payload holding base64url; -1 if it is not one. */
static long payload_bytes(const ab_mesh_env *e, unsigned char *out, size_t cap)
{
    if (e->payload_len < 2 || e->payload[0] != '"')
        return -1;
    return ab_mesh_unb64(e->payload + 1, e->payload_len - 2, out, cap);
}

/* Full Noise XX as initiator with the agent. 0 or -1. */
static int np_handshake(np *p)
{
    unsigned char priv[32], pub[32], m[200], pl[8];
    ab_noise_keypair(priv, pub);
    ab_noise_hs hs;
    ab_noise_hs_init(&hs, 1, priv, NULL, NULL, 0);
    long n = ab_noise_hs_write(&hs, NULL, 0, m, sizeof m);
    char h1[AB_MESH_UUID_LEN + 1];
    if (send_b64(p, AB_MESH_HANDSHAKE, NULL, m, (size_t)n, 0, h1) != 0)
        return -1;
    ab_mesh_env e2;
    if (np_wait(p, h1, 10000, &e2) != 0)
        return -1;
    long k = payload_bytes(&e2, m, sizeof m);
    int ok =
        e2.type == AB_MESH_HANDSHAKE && k == 96 && ab_noise_hs_read(&hs, m, 96, pl, sizeof pl) >= 0;
    if (ok) {
        n = ab_noise_hs_write(&hs, NULL, 0, m, sizeof m);
        ok = n == 64 && send_b64(p, AB_MESH_HANDSHAKE, e2.id, m, 64, 0, NULL) == 0 &&
             ab_noise_hs_split(&hs, &p->tx, &p->rx) == 0;
    }
    ab_mesh_env_free(&e2);
    p->has_session = ok;
    return ok ? 0 : -1;
}

/* Sends a request (encrypted when the peer has a session) and returns the answer's plaintext
 * (malloc'ed; NULL on timeout) and its type/encryption in *type / *enc. */
static char *np_request(np *p, const char *json, int *type, int *enc)
{
    char id[AB_MESH_UUID_LEN + 1];
    size_t n = strlen(json);
    if (p->has_session) {
        unsigned char *ct = ab_xmalloc(n + AB_NOISE_TAG);
        ab_noise_encrypt(&p->tx, json, n, ct);
        send_b64(p, AB_MESH_REQUEST, NULL, ct, n + AB_NOISE_TAG, 1, id);
        free(ct);
    } else if (np_send(p, AB_MESH_REQUEST, NULL, json, n, 0, id) != 0) {
        return NULL;
    }
    ab_mesh_env e;
    if (np_wait(p, id, 15000, &e) != 0)
        return NULL;
    *type = e.type;
    *enc = e.encrypted;
    char *res;
    if (e.encrypted) {
        unsigned char *ct = ab_xmalloc(e.payload_len);
        long k = payload_bytes(&e, ct, e.payload_len);
        res = ab_xmalloc(k > AB_NOISE_TAG ? (size_t)k : 16);
        if (k < AB_NOISE_TAG || ab_noise_decrypt(&p->rx, ct, (size_t)k, (unsigned char *)res))
            strcpy(res, "(undecryptable)");
        else
            res[k - AB_NOISE_TAG] = '\0';
        free(ct);
    } else {
        res = ab_xstrdup(e.payload);
    }
    ab_mesh_env_free(&e);
    return res;
}

/* 1 if the request gets exactly `want` with this type and encryption. */
static int answers(np *p, const char *json, const char *want, int want_type, int want_enc,
                   char *got, size_t cap)
{
    int type = -1, enc = -1;
    char *r = np_request(p, json, &type, &enc);
    snprintf(got, cap, "%s (type %d, encrypted %d)", r ? r : "(no answer)", type, enc);
    int ok = r && strcmp(r, want) == 0 && type == want_type && enc == want_enc;
    free(r);
    return ok;
}

static np honest;
static int probe_n;

/* The honest peer's encrypted request still gets exactly its echo. */
static void still_serving(const char *after)
{
    char q[64], want[96], got[300], name[200];
    snprintf(q, sizeof q, "{\"q\":\"probe %d\"}", ++probe_n);
    snprintf(want, sizeof want, "{\"echo\":\"probe %d\"}", probe_n);
    snprintf(name, sizeof name, "honest peer served after %s", after);
    if (kill(agent_pid, 0) != 0) {
        CHECK(name, 0, "the agent is gone");
        printf("%d failure(s)\n", failures);
        exit(1);
    }
    CHECK(name, answers(&honest, q, want, AB_MESH_RESPONSE, 1, got, sizeof got), "got %s", got);
}

/* After the probe answered, nothing else arrives on p for ms: the hostile input was never
 * answered. */
static void no_strays(np *p, const char *name)
{
    char got[300];
    int ok = answers(p, "{\"q\":\"last\"}", "{\"echo\":\"last\"}", AB_MESH_RESPONSE, p->has_session,
                     got, sizeof got);
    char *t;
    size_t n;
    while (ab_mesh_sc_recv(&p->sc, 700, &t, &n) == 0) {
        p->strays++;
        free(t);
    }
    CHECK(name, ok && p->strays == 0, "%d unexpected envelope(s), probe %s", p->strays, got);
}

static long rss_kb(void)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", agent_pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

/* (a) n identities, each sends msg1, reads msg2 and leaves. Returns how many got msg2. */
static int half_open_round(int n)
{
    int got = 0;
    for (int i = 0; i < n; i++) {
        np p;
        if (np_join(&p) != 0)
            continue;
        unsigned char priv[32], pub[32], m[64];
        ab_noise_keypair(priv, pub);
        ab_noise_hs hs;
        ab_noise_hs_init(&hs, 1, priv, NULL, NULL, 0);
        long k = ab_noise_hs_write(&hs, NULL, 0, m, sizeof m);
        char h1[AB_MESH_UUID_LEN + 1];
        ab_mesh_env e;
        if (send_b64(&p, AB_MESH_HANDSHAKE, NULL, m, (size_t)k, 0, h1) == 0 &&
            np_wait(&p, h1, 5000, &e) == 0) {
            got += e.type == AB_MESH_HANDSHAKE;
            ab_mesh_env_free(&e);
        }
        ab_mesh_sc_close(&p.sc);
    }
    return got;
}

static void case_half_open(void)
{
    int per_round = 1500, rounds = 5;
    long rss[8];
    rss[0] = rss_kb();
    for (int r = 1; r <= rounds; r++) {
        int got = half_open_round(per_round);
        rss[r] = rss_kb();
        printf("rss after %d half-open handshakes: %ld kB (start %ld kB)\n", r * per_round, rss[r],
               rss[0]);
        CHECK("every msg1 from a new identity answered", got == per_round, "%d of %d", got,
              per_round);
    }
    /* unbounded, each identity keeps ~600 bytes (1.7 MB per two rounds); bounded, the last
     * two rounds reuse what the first ones left (sanitizer allocators take longer to settle) */
    CHECK("half-open handshakes do not grow the agent", rss[rounds] - rss[rounds - 2] < 512,
          "RSS %ld kB after %d, %ld kB after %d identities", rss[rounds - 2],
          (rounds - 2) * per_round, rss[rounds], rounds * per_round);
    still_serving("half-open handshakes");
}

/* (b) one peer floods msg1s, then completes a handshake and is served. */
static void case_msg1_flood(void)
{
    np p;
    if (np_join(&p) != 0) {
        CHECK("flood setup", 0, "cannot join");
        return;
    }
    int sent = 300;
    unsigned char priv[32], pub[32], m[64];
    for (int i = 0; i < sent; i++) {
        ab_noise_keypair(priv, pub);
        ab_noise_hs hs;
        ab_noise_hs_init(&hs, 1, priv, NULL, NULL, 0);
        long k = ab_noise_hs_write(&hs, NULL, 0, m, sizeof m);
        send_b64(&p, AB_MESH_HANDSHAKE, NULL, m, (size_t)k, 0, NULL);
    }
    int got = 0;
    char *t;
    size_t n;
    while (got < sent && ab_mesh_sc_recv(&p.sc, 5000, &t, &n) == 0) {
        got += strstr(t, "\"msg_type\":\"handshake\"") != NULL;
        free(t);
    }
    CHECK("every msg1 of a flood answered (each restarts the handshake)", got == sent, "%d of %d",
          got, sent);
    char buf[300];
    CHECK("the flooding peer can then handshake and is served",
          np_handshake(&p) == 0 &&
              answers(&p, "{\"q\":\"after flood\"}", "{\"echo\":\"after flood\"}", AB_MESH_RESPONSE,
                      1, buf, sizeof buf),
          "%s", buf);
    ab_mesh_sc_close(&p.sc);
    still_serving("a msg1 flood");
}

/* Sends an encrypted request with this payload and expects the plaintext no_session error. */
static void expect_no_session(np *p, const char *payload, size_t plen, const char *name)
{
    char id[AB_MESH_UUID_LEN + 1];
    ab_mesh_env e;
    if (np_send(p, AB_MESH_REQUEST, NULL, payload, plen, 1, id) != 0 ||
        np_wait(p, id, 10000, &e) != 0) {
        CHECK(name, 0, "no answer");
        return;
    }
    CHECK(name,
          e.type == AB_MESH_ERROR && !e.encrypted &&
              strcmp(e.payload, "{\"error\":\"no_session\"}") == 0,
          "type %d encrypted %d payload %.200s", e.type, e.encrypted, e.payload);
    ab_mesh_env_free(&e);
}

/* (c) encrypted requests the agent cannot open. */
static void case_no_session(void)
{
    np p;
    if (np_join(&p) != 0) {
        CHECK("no_session setup", 0, "cannot join");
        return;
    }
    static unsigned char junk[70000];
    randombytes_buf(junk, sizeof junk);
    char *lit;
    expect_no_session(&p, "\"!!not base64!!\"", 16, "no session: ciphertext not base64");
    lit = b64_lit(junk, 10);
    expect_no_session(&p, lit, strlen(lit), "no session: ciphertext shorter than a tag");
    free(lit);
    lit = b64_lit(junk, 100);
    expect_no_session(&p, lit, strlen(lit), "no session: well-formed ciphertext");
    free(lit);
    lit = b64_lit(junk, sizeof junk);
    expect_no_session(&p, lit, strlen(lit), "no session: ciphertext over the Noise maximum");
    free(lit);
    expect_no_session(&p, "{\"q\":1}", 7, "no session: encrypted flag on an object payload");
    expect_no_session(&p, "null", 4, "no session: encrypted flag on null");
    /* with a session: garbage ciphertext drops it; a new handshake recovers */
    if (np_handshake(&p) != 0) {
        CHECK("handshake for the garbage-ciphertext case", 0, "failed");
        return;
    }
    lit = b64_lit(junk, 50);
    expect_no_session(&p, lit, strlen(lit), "garbage ciphertext over a session");
    free(lit);
    char buf[300];
    CHECK("the session was dropped: the old one gets no_session",
          answers(&p, "{\"q\":\"old\"}", "{\"error\":\"no_session\"}", AB_MESH_ERROR, 0, buf,
                  sizeof buf),
          "%s", buf);
    CHECK("a new handshake recovers",
          np_handshake(&p) == 0 && answers(&p, "{\"q\":\"new\"}", "{\"echo\":\"new\"}",
                                           AB_MESH_RESPONSE, 1, buf, sizeof buf),
          "%s", buf);
    no_strays(&p, "no_session cases answered once each");
    ab_mesh_sc_close(&p.sc);
    still_serving("undecryptable requests");
}

/* (d) well-signed but malformed handshakes, payload types, message types. */
static void case_malformed(void)
{
    np p;
    if (np_join(&p) != 0) {
        CHECK("malformed setup", 0, "cannot join");
        return;
    }
    char rid[AB_MESH_UUID_LEN + 1];
    ab_mesh_uuid(rid);
    unsigned char b[200];
    randombytes_buf(b, sizeof b);
    /* the encrypted flag means nothing on a handshake: a msg1 is a msg1 */
    char h1[AB_MESH_UUID_LEN + 1];
    ab_mesh_env e2;
    send_b64(&p, AB_MESH_HANDSHAKE, NULL, b, 32, 1, h1);
    int got2 = np_wait(&p, h1, 10000, &e2) == 0;
    CHECK("msg1 with the encrypted flag answered", got2 && e2.type == AB_MESH_HANDSHAKE, "no msg2");
    if (got2)
        ab_mesh_env_free(&e2);
    np_send(&p, AB_MESH_HANDSHAKE, NULL, "{\"e\":1}", 7, 0, NULL);
    np_send(&p, AB_MESH_HANDSHAKE, NULL, "42", 2, 0, NULL);
    np_send(&p, AB_MESH_HANDSHAKE, NULL, "null", 4, 0, NULL);
    np_send(&p, AB_MESH_HANDSHAKE, NULL, "\"!!\"", 4, 0, NULL);
    np_send(&p, AB_MESH_HANDSHAKE, NULL, "\"\"", 2, 0, NULL);
    send_b64(&p, AB_MESH_HANDSHAKE, NULL, b, 10, 0, NULL);
    send_b64(&p, AB_MESH_HANDSHAKE, NULL, b, 33, 0, NULL);
    send_b64(&p, AB_MESH_HANDSHAKE, NULL, b, 96, 0, NULL); /* msg2 size, no reply */
    send_b64(&p, AB_MESH_HANDSHAKE, rid, b, 32, 0, NULL);  /* msg1 with a reply */
    send_b64(&p, AB_MESH_HANDSHAKE, rid, b, 96, 0, NULL);  /* msg2 nobody asked for */
    send_b64(&p, AB_MESH_HANDSHAKE, rid, b, 64, 0, NULL);  /* msg3 without a msg2 */
    static const unsigned char zero[32];
    send_b64(&p, AB_MESH_HANDSHAKE, NULL, zero, 32, 0, h1); /* small-order key: ee = 0 */
    /* a real msg1 then a msg3 of garbage: the handshake is refused, the peer may restart */
    unsigned char priv[32], pub[32], m[64];
    ab_noise_keypair(priv, pub);
    ab_noise_hs hs;
    ab_noise_hs_init(&hs, 1, priv, NULL, NULL, 0);
    long k = ab_noise_hs_write(&hs, NULL, 0, m, sizeof m);
    send_b64(&p, AB_MESH_HANDSHAKE, NULL, m, (size_t)k, 0, h1);
    got2 = np_wait(&p, h1, 10000, &e2) == 0;
    if (got2) {
        send_b64(&p, AB_MESH_HANDSHAKE, e2.id, b, 64, 0, NULL);
        ab_mesh_env_free(&e2);
    }
    CHECK("msg2 for a real msg1 after malformed handshakes", got2, "no msg2");
    char buf[300];
    CHECK("a garbage msg3 leaves no session",
          answers(&p, "{\"q\":1}", "{\"echo\":1}", AB_MESH_RESPONSE, 0, buf, sizeof buf), "%s",
          buf);
    /* payload types the handler sees as they are */
    static const struct {
        const char *payload, *want;
    } kinds[] = {
        {"\"text\"", "{\"kind\":\"string\"}"},
        {"42", "{\"kind\":\"number\"}"},
        {"true", "{\"kind\":\"boolean\"}"},
        {"[1,2]", "{}"},
        {"{}", "{}"},
        {"{\"q\":[1,{\"a\":null}]}", "{\"echo\":[1,{}]}"},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        char name[100];
        snprintf(name, sizeof name, "plaintext payload %s answered", kinds[i].payload);
        CHECK(name,
              answers(&p, kinds[i].payload, kinds[i].want, AB_MESH_RESPONSE, 0, buf, sizeof buf),
              "%s", buf);
    }
    char id[AB_MESH_UUID_LEN + 1];
    ab_mesh_env e;
    np_send(&p, AB_MESH_STREAM_REQUEST, NULL, "{\"q\":1}", 7, 0, id);
    int got = np_wait(&p, id, 10000, &e) == 0;
    CHECK("stream_request refused with an error",
          got && e.type == AB_MESH_ERROR &&
              strcmp(e.payload, "{\"error\":\"stream_request is not supported\"}") == 0,
          "%s", got ? e.payload : "(no answer)");
    if (got)
        ab_mesh_env_free(&e);
    /* types that are never requests; the relay drops what does not parse, send it anyway */
    np_send(&p, AB_MESH_CONTROL, NULL, "{\"q\":1}", 7, 0, NULL);
    np_send(&p, AB_MESH_STREAM_CHUNK, rid, "{\"q\":1}", 7, 0, NULL);
    np_send(&p, AB_MESH_STREAM_END, rid, "null", 4, 0, NULL);
    const char *raw[] = {
        "{\"hello\":1}",
        "[1,2,3]",
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++)
        ab_mesh_sc_send_text(&p.sc, raw[i], strlen(raw[i]));
    no_strays(&p, "malformed envelopes never answered");
    ab_mesh_sc_close(&p.sc);
    still_serving("malformed envelopes");
}

/* (e) replies and cancels for ids the agent never sent, plain and encrypted. */
static void case_unmatched(void)
{
    np p;
    if (np_join(&p) != 0 || np_handshake(&p) != 0) {
        CHECK("unmatched setup", 0, "cannot join/handshake");
        return;
    }
    char rid[AB_MESH_UUID_LEN + 1];
    ab_mesh_uuid(rid);
    np_send(&p, AB_MESH_RESPONSE, rid, "{\"q\":\"late\"}", 12, 0, NULL);
    np_send(&p, AB_MESH_ERROR, rid, "{\"error\":\"x\"}", 13, 0, NULL);
    np_send(&p, AB_MESH_RESPONSE, NULL, "{\"q\":\"no reply id\"}", 19, 0, NULL);
    np_send(&p, AB_MESH_CANCEL, rid, "null", 4, 0, NULL);
    np_send(&p, AB_MESH_CANCEL, NULL, "null", 4, 0, NULL);
    /* encrypted ones must still be decrypted (the counter stays in step, §9.3) */
    const char *pts[] = {"{\"q\":\"enc late\"}", "{\"error\":\"enc\"}", "null"};
    ab_mesh_type types[] = {AB_MESH_RESPONSE, AB_MESH_ERROR, AB_MESH_CANCEL};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(pts[i]);
        unsigned char ct[64];
        ab_noise_encrypt(&p.tx, pts[i], n, ct);
        send_b64(&p, types[i], rid, ct, n + AB_NOISE_TAG, 1, NULL);
    }
    no_strays(&p, "unmatched replies and cancels never answered, the session stays in step");
    /* a plaintext no_session error, even for an unknown id, drops that peer's session (only the
     * peer itself can sign one); a new handshake recovers */
    np_send(&p, AB_MESH_ERROR, rid, "{\"error\":\"no_session\"}", 22, 0, NULL);
    char buf[300];
    CHECK(
        "an unmatched no_session error drops only the sender's session",
        answers(&p, "{\"q\":2}", "{\"error\":\"no_session\"}", AB_MESH_ERROR, 0, buf, sizeof buf) &&
            np_handshake(&p) == 0 &&
            answers(&p, "{\"q\":3}", "{\"echo\":3}", AB_MESH_RESPONSE, 1, buf, sizeof buf),
        "%s", buf);
    ab_mesh_sc_close(&p.sc);
    still_serving("unmatched replies");
}

/* (f) a plaintext request at exactly the relay's cap, one just over it, and an encrypted one
 * at the Noise plaintext limit. */
static void case_big(void)
{
    np p;
    if (np_join(&p) != 0) {
        CHECK("big setup", 0, "cannot join");
        return;
    }
    /* size the payload so the wire text is exactly CAP bytes */
    ab_mesh_env e = {0};
    ab_mesh_uuid(e.id);
    strcpy(e.from, p.id.id);
    strcpy(e.to, agent);
    e.type = AB_MESH_REQUEST;
    e.timestamp = ab_mesh_now_ms();
    size_t fill = 1000;
    char *json = NULL;
    ab_buf w;
    ab_buf_init(&w);
    for (int pass = 0; pass < 2; pass++) {
        free(json);
        json = ab_xmalloc(fill + 16);
        memcpy(json, "{\"big\":\"", 8);
        memset(json + 8, 'x', fill);
        memcpy(json + 8 + fill, "\"}", 3);
        ab_mesh_env_set_payload(&e, json, fill + 10);
        ab_mesh_env_sign(&e, &p.id);
        w.len = 0;
        ab_mesh_env_wire(&e, &w);
        fill += CAP - w.len;
    }
    fill -= CAP - w.len;
    ab_mesh_sc_send_text(&p.sc, w.data, w.len);
    ab_mesh_env a;
    char want[64];
    snprintf(want, sizeof want, "{\"len\":%zu}", fill);
    int got = np_wait(&p, e.id, 20000, &a) == 0;
    CHECK("request of exactly the relay's 1 MiB cap served",
          w.len == CAP && got && a.type == AB_MESH_RESPONSE && strcmp(a.payload, want) == 0,
          "wire %zu bytes, answer %.100s", w.len, got ? a.payload : "(none)");
    if (got)
        ab_mesh_env_free(&a);
    ab_buf_free(&w);
    ab_mesh_env_free(&e);
    free(json);
    /* one byte over: the relay closes the sender; the agent never sees it */
    size_t n = CAP + 1;
    char *big = ab_xmalloc(n);
    memset(big, ' ', n);
    memcpy(big, "{\"big\":1}", 9);
    ab_mesh_sc_send_text(&p.sc, big, n);
    free(big);
    char *t;
    size_t tl;
    int r;
    while ((r = ab_mesh_sc_recv(&p.sc, 5000, &t, &tl)) == 0)
        free(t);
    CHECK("a message over the cap closes only its sender", r == -2, "recv %d", r);
    ab_mesh_sc_close(&p.sc);
    still_serving("a message over the cap");
    /* the largest encrypted request */
    if (np_join(&p) != 0 || np_handshake(&p) != 0) {
        CHECK("big encrypted setup", 0, "cannot join/handshake");
        return;
    }
    fill = AB_NOISE_MAX_PLAINTEXT - 10;
    json = ab_xmalloc(AB_NOISE_MAX_PLAINTEXT + 1);
    memcpy(json, "{\"big\":\"", 8);
    memset(json + 8, 'y', fill);
    memcpy(json + 8 + fill, "\"}", 3);
    snprintf(want, sizeof want, "{\"len\":%zu}", fill);
    char buf[300];
    CHECK("encrypted request of the maximum plaintext served",
          answers(&p, json, want, AB_MESH_RESPONSE, 1, buf, sizeof buf), "%s", buf);
    free(json);
    ab_mesh_sc_close(&p.sc);
    still_serving("big requests");
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: mesh_link_peer PORT AGENT_ID AGENT_PID\n");
        return 2;
    }
    port = atoi(argv[1]);
    agent = argv[2];
    agent_pid = atoi(argv[3]);
    signal(SIGPIPE, SIG_IGN); /* the relay closes sockets under us on purpose */
    if (ab_mesh_init() != 0 || strlen(agent) != AB_MESH_ID_LEN)
        return 2;
    if (np_join(&honest) != 0 || np_handshake(&honest) != 0) {
        CHECK("honest peer handshake", 0, "cannot join or handshake");
        return 1;
    }
    still_serving("the start");
    case_malformed();
    case_no_session();
    case_unmatched();
    case_msg1_flood();
    case_big();
    case_half_open();
    ab_mesh_sc_close(&honest.sc);
    printf("%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
