/*
 * mesh_bus_peer.c - the mesh link (actors/mesh_link.c) in front of a fake bus actor, to check
 * the link's side of the bus contract (src/bus/bus.h, spec core §4.11.3) before the real bus
 * exists: inbound requests must arrive as AB_MSG_BUS_EVENT calls [kind="mesh", id (UUID v4),
 * payload_json, meta_json={"from":...}] and each kind of reply must become the right answer.
 *
 *   mesh_bus_peer PORT SECONDS
 *
 * Prints "peer <agent id>" once connected, serves for SECONDS, exits 0. The fake bus answers by
 * the request's "mode": "ok" -> ack {"event_id_len":N,"kind":K,"meta":M,"payload":P};
 * "err" -> error "isle error: lua error: boom"; "dropped" -> "ack dropped"; "closed" ->
 * "bus channel closed"; "null" -> ack null; "slow" -> no reply (handler timeout, 500 ms here).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actors/mesh_link.h"
#include "bus/bus.h"
#include "core/common.h"
#include "mesh/envelope.h"
#include "mesh/mp.h"

static void bus_handle(ab_actor *self, ab_msg *m)
{
    ab_rt *rt = ab_actor_rt(self);
    if (m->type != AB_MSG_BUS_EVENT)
        return;
    ab_mpr r;
    ab_mpr_init(&r, m->body, m->len);
    const char *kind, *id, *payload, *meta;
    size_t kn, idn, pn, mn;
    if (ab_mpr_str(&r, &kind, &kn) || ab_mpr_str(&r, &id, &idn) || ab_mpr_str(&r, &payload, &pn) ||
        ab_mpr_str(&r, &meta, &mn)) {
        ab_reply_error(rt, m, AB_EPROTO, "fake bus: malformed event");
        return;
    }
    char *p = ab_xstrndup(payload, pn);
    if (strstr(p, "\"mode\":\"err\"")) {
        ab_reply_error(rt, m, AB_EPROTO, "isle error: lua error: boom");
    } else if (strstr(p, "\"mode\":\"dropped\"")) {
        ab_reply_error(rt, m, AB_ECLOSED, "ack dropped");
    } else if (strstr(p, "\"mode\":\"closed\"")) {
        ab_reply_error(rt, m, AB_ECLOSED, "bus channel closed");
    } else if (strstr(p, "\"mode\":\"slow\"")) {
        /* never answered */
    } else {
        ab_buf ack, body;
        ab_buf_init(&ack);
        ab_buf_init(&body);
        if (strstr(p, "\"mode\":\"null\"")) {
            ab_buf_append(&ack, "null", 4);
        } else {
            char head[64];
            int n = snprintf(head, sizeof head, "{\"event_id_len\":%zu,\"kind\":\"", idn);
            ab_buf_append(&ack, head, (size_t)n);
            ab_buf_append(&ack, kind, kn);
            ab_buf_append(&ack, "\",\"meta\":", 9);
            ab_buf_append(&ack, meta, mn);
            ab_buf_append(&ack, ",\"payload\":", 11);
            ab_buf_append(&ack, payload, pn);
            ab_buf_append(&ack, "}", 1);
        }
        ab_mpw_str(&body, ack.data, ack.len);
        ab_reply(rt, m, 0, body.data, body.len);
        ab_buf_free(&ack);
        ab_buf_free(&body);
    }
    free(p);
}

static const ab_actor_ops bus_ops = {.name = "fake_bus", .handle = bus_handle};

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: mesh_bus_peer PORT SECONDS\n");
        return 2;
    }
    if (ab_mesh_init() != 0)
        return 1;
    ab_rt_options o = {.threads = 2};
    ab_rt *rt = ab_rt_new(&o);
    ab_handle bus = ab_actor_spawn(rt, &bus_ops, NULL, AB_ACTOR_WORKER);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%s/ws", argv[1]);
    unsigned char seed[32];
    ab_mesh_random_seed(seed);
    ab_mesh_link_config cfg = {.url = url, .seed = seed, .bus = bus, .handler_timeout_ms = 500};
    ab_handle link;
    char id[44], *err = NULL;
    if (ab_mesh_link_start(rt, &cfg, &link, id, &err) != 0) {
        fprintf(stderr, "mesh_bus_peer: %s\n", err);
        free(err);
        ab_rt_destroy(rt);
        return 1;
    }
    printf("peer %s\n", id);
    fflush(stdout);
    sleep((unsigned)atoi(argv[2]));
    ab_rt_destroy(rt);
    return 0;
}
