/*
 * relay_verify.c - the relay's verify actors (relay_verify.h): AB_ACTOR_WORKER actors that
 * parse and verify the envelopes and auth responses the relay's I/O thread hands them in
 * batches, and send each batch back with the verdicts filled in.
 *
 * Accepts AB__RELAY_VERIFY (from the relay actor); sends AB__RELAY_VERIFIED to it, one per
 * batch, in mailbox order (so each sender's records come back in the order they were read).
 * No state besides a reused buffer for the canonical bytes; no limits of its own (the relay
 * caps what each connection has in flight).
 */
#include "mesh/relay_verify.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/common.h"
#include "mesh/mjson.h"

typedef struct verifier {
    ab_rt *rt;
    ab_handle self, relay;
    ab_buf canon; /* reused for the canonical bytes */
} verifier;

static const char *str_of(const ab_mj_value *o, const char *k, size_t *n)
{
    const ab_mj_value *v = ab_mj_get(o, k);
    if (!v || v->type != AB_MJ_STRING)
        return NULL;
    *n = v->v.str.len;
    return v->v.str.s;
}

/* Worker: the AuthResponse must name the claimed AgentId and sign the nonce with it. */
static void verify_auth(ab__relay_rec *h, const char *text)
{
    ab_mj_doc *d = NULL;
    const char *agent = NULL, *sig = NULL;
    size_t an = 0, sn = 0;
    if (ab_mj_parse(text, h->len, &d) == 0 && ab_mj_root(d)->type == AB_MJ_OBJECT) {
        agent = str_of(ab_mj_root(d), "agent_id", &an);
        sig = str_of(ab_mj_root(d), "signature", &sn);
    }
    const char *err = NULL;
    unsigned char pk[32], raw[128];
    if (!agent || !sig)
        err = "no response";
    else if (an != strlen(h->agent) || memcmp(agent, h->agent, an) != 0)
        err = "agent_id mismatch";
    else if (ab_mesh_id_decode(agent, an, pk) != 0 || crypto_core_ed25519_is_valid_point(pk) != 1)
        err = "bad agent_id: invalid public key";
    else if (sn > 170 || ab_mesh_unb64(sig, sn, raw, sizeof raw) < 0)
        err = "bad sig base64: invalid encoding";
    else if (ab_mesh_unb64(sig, sn, raw, sizeof raw) != 64)
        err = "signature must be 64 bytes";
    else if (crypto_sign_verify_detached(raw, (const unsigned char *)h->aux, strlen(h->aux), pk) !=
             0)
        err = "nonce signature invalid: signature error";
    ab_mj_free(d);
    h->verdict = err ? AB__V_INVALID : AB__V_OK;
    h->err = err;
}

/* Worker: parse, sender check, signature (as ab_mesh_env_verify, canonical bytes in a reused
 * buffer). */
static void verify_env(verifier *v, ab__relay_rec *h, const char *text)
{
    ab_mesh_env e;
    const char *err = "invalid envelope";
    if (ab_mesh_env_parse(text, h->len, &e, &err) != 0) {
        h->verdict = AB__V_INVALID;
        h->err = err;
        return;
    }
    memcpy(h->aux, e.to, sizeof h->aux);
    unsigned char pk[32];
    if (strcmp(e.from, h->agent) != 0) {
        h->verdict = AB__V_SPOOF;
        memcpy(h->note, e.from, sizeof h->note);
    } else {
        v->canon.len = 0;
        ab_mesh_env_canonical(&e, &v->canon);
        if (ab_mesh_id_decode(e.from, AB_MESH_ID_LEN, pk) != 0 ||
            ab_mesh_verify_b64(pk, e.signature, AB_MESH_SIG_LEN, v->canon.data, v->canon.len) !=
                0) {
            h->verdict = AB__V_BADSIG;
            memcpy(h->note, e.id, sizeof e.id);
        }
    }
    ab_mesh_env_free(&e);
}

/* Verify actor: fills the verdicts into the batch and sends the same allocation back. */
static void verifier_handle(ab_actor *self, ab_msg *m)
{
    verifier *v = ab_actor_ud(self);
    if (m->type != AB__RELAY_VERIFY)
        return;
    ab__relay_rec h;
    for (size_t off = 0; off + sizeof h <= m->len; off += sizeof h + h.len) {
        memcpy(&h, m->body + off, sizeof h);
        AB_ASSERT(h.len <= m->len - off - sizeof h);
        if (h.kind == AB__REC_AUTH)
            verify_auth(&h, m->body + off + sizeof h);
        else
            verify_env(v, &h, m->body + off + sizeof h);
        memcpy(m->body + off, &h, sizeof h);
    }
    ab_msg_keep(self);
    m->next = NULL;
    m->type = AB__RELAY_VERIFIED;
    m->src = v->self;
    m->dst = v->relay;
    ab_send(v->rt, m);
}

static void verifier_destroy(ab_actor *self)
{
    verifier *v = ab_actor_ud(self);
    ab_buf_free(&v->canon);
    free(v);
}

static const ab_actor_ops verifier_ops = {
    .name = "relay_verify",
    .handle = verifier_handle,
    .destroy = verifier_destroy,
};

ab_handle ab__relay_verify_spawn(ab_rt *rt, ab_handle relay)
{
    verifier *v = ab_xcalloc(1, sizeof *v);
    v->rt = rt;
    v->relay = relay;
    ab_buf_init(&v->canon);
    v->self = ab_actor_spawn(rt, &verifier_ops, v, AB_ACTOR_WORKER);
    return v->self;
}
