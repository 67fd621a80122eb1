/*
 * bus.c - the bus actor (AB_ACTOR_WORKER). Contract of the public messages in bus.h.
 *
 * Accepts:  AB_MSG_BUS_EVENT, AB_MSG_BUS_EMIT, AB_MSG_BUS_CANCEL (producers), AB_MSG_BUS_REGISTER,
 *           AB_MSG_BUS_SERVE, AB_MSG_BUS_STATS (main VM), AB_MSG_BUS_STOP (host),
 *           AB_MSG_REPLY (from handler VMs: load acks and dispatch results; from the timer:
 *           the grace deadline).
 * Sends:    AB_MSG_CALL_LUA to handler VMs with the argument sequences ("load", kind, bytecode)
 *           and ("dispatch", kind, id, payload_json, meta_json), run by
 *           src/lua/bus_handler.lua; AB_MSG_CALL_CANCEL to drop a cancelled running dispatch;
 *           AB_MSG_REPLY to producers (acks), to the registrant and to bus.serve.
 * States:   idle (events queue up, nothing runs: upstream has no dispatcher before
 *           bus.serve) -> serving -> stopping (intake closed, in-flight handlers get the grace
 *           window) -> closed (every later event: "bus channel closed").
 * Limits:   the queue holds `capacity` events; producers beyond it wait for their reply
 *           (backpressure, nothing dropped). In flight: 1 with one handler VM (strictly
 *           serial, in order, as upstream); up to AB_BUS_PER_VM per VM otherwise, least-loaded
 *           VM first; a kind registered with {serial=true} has at most one event in flight.
 * Host (C) handlers run synchronously on the bus actor's thread.
 */
#include "bus/bus.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "core/common.h"
#include "core/log.h"

#define AB_BUS_PER_VM 16
#define GRACE_SESSION 0xffffffffu

typedef struct event {
    struct event *next;
    ab_msg *req; /* kept: the producer's message (EVENT: its ack goes to req->src) */
    int has_ack;
    char *kind, *id, *payload, *meta;
} event;

typedef struct route {
    struct route *next;
    char *kind;                  /* NULL = on_any */
    const ab_host_handler *host; /* else a Lua handler in every VM */
    int serial;
    int busy; /* serial kinds: an event in flight */
} route;

typedef enum { P_LOAD = 1, P_DISPATCH } pending_kind;

typedef struct pending {
    struct pending *next;
    uint32_t session;
    pending_kind kind;
    unsigned vm;
    event *ev;       /* P_DISPATCH */
    route *rt_used;  /* P_DISPATCH: route whose serial slot is held */
    int cancelling;  /* P_DISPATCH: AB_MSG_CALL_CANCEL sent to the VM */
    struct reg *reg; /* P_LOAD */
} pending;

typedef struct reg {
    ab_msg *req; /* the registrant's call */
    unsigned waiting;
    char *error;
} reg;

typedef enum { B_IDLE, B_SERVING, B_STOPPING, B_CLOSED } bus_state;

typedef struct bus {
    ab_rt *rt;
    ab_handle self;
    unsigned capacity, grace_ms;
    ab_handle *vms;
    unsigned n_vms;
    unsigned *load; /* in flight per VM */
    ab_host_handler *hosts;
    size_t n_hosts;
    route *routes;
    event *q_head, *q_tail;
    unsigned q_len;
    event *w_head, *w_tail; /* producers waiting for room */
    pending *pend;
    unsigned in_flight;
    uint32_t next_session;
    bus_state state;
    int served;      /* bus.serve was called once (or the host auto-served) */
    int auto_served; /* by the host (SDK auto_serve_bus) */
    atomic_int *serving;
    ab_msg *serve_req;
    struct {
        uint64_t received, dispatched, acked, failed, nacked, dropped;
    } st;
} bus;

/* ---- small helpers ---- */

static char *obj_str(const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_STR)
        return ab_xstrndup(o->via.str.ptr, o->via.str.size);
    if (o->type == MSGPACK_OBJECT_BIN)
        return ab_xstrndup(o->via.bin.ptr, o->via.bin.size);
    return NULL;
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void free_event(event *e)
{
    if (e->req)
        ab_msg_free(e->req);
    free(e->kind);
    free(e->id);
    free(e->payload);
    free(e->meta);
    free(e);
}

/* Answers an event: with an ack (ack_json) or an error text. Events without an ack only
 * count. Frees the event. */
static void finish_event(bus *b, event *e, const char *ack_json, const char *error)
{
    if (error) {
        b->st.failed++;
        if (e->has_ack)
            ab_reply_error(b->rt, e->req, AB_EINVAL, error);
        else
            ab_log(AB_LOG_WARN, "agent_block::bus", "event kind=%s id=%s failed: %s", e->kind,
                   e->id, error);
    } else {
        b->st.acked++;
        if (e->has_ack) {
            msgpack_sbuffer sb;
            msgpack_sbuffer_init(&sb);
            msgpack_packer pk;
            msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
            pack_str(&pk, ack_json ? ack_json : "null");
            ab_reply(b->rt, e->req, 0, sb.data, sb.size);
            msgpack_sbuffer_destroy(&sb);
        }
    }
    free_event(e);
}

static route *find_route(bus *b, const char *kind)
{
    route *any = NULL;
    for (route *r = b->routes; r; r = r->next) {
        if (!r->kind)
            any = r;
        else if (kind && strcmp(r->kind, kind) == 0)
            return r;
    }
    return kind ? any : NULL;
}

static route *find_exact(bus *b, const char *kind)
{
    for (route *r = b->routes; r; r = r->next)
        if ((kind == NULL) == (r->kind == NULL) && (!kind || strcmp(r->kind, kind) == 0))
            return r;
    return NULL;
}

static route *add_route(bus *b, const char *kind)
{
    route *r = find_exact(b, kind);
    if (r)
        return r;
    r = ab_xcalloc(1, sizeof *r);
    r->kind = kind ? ab_xstrdup(kind) : NULL;
    r->next = b->routes;
    b->routes = r;
    return r;
}

static uint32_t new_session(bus *b)
{
    if (++b->next_session == GRACE_SESSION || b->next_session == 0)
        b->next_session = 1;
    return b->next_session;
}

static pending *add_pending(bus *b, pending_kind k, unsigned vm)
{
    pending *p = ab_xcalloc(1, sizeof *p);
    p->session = new_session(b);
    p->kind = k;
    p->vm = vm;
    p->next = b->pend;
    b->pend = p;
    return p;
}

static pending *take_pending(bus *b, uint32_t session)
{
    for (pending **pp = &b->pend; *pp; pp = &(*pp)->next) {
        if ((*pp)->session == session) {
            pending *p = *pp;
            *pp = p->next;
            return p;
        }
    }
    return NULL;
}

static void send_call(bus *b, ab_handle dst, uint32_t session, msgpack_sbuffer *sb)
{
    ab_msg *m = ab_msg_with_body(AB_MSG_CALL_LUA, sb->data, sb->size);
    m->flags = AB_MSG_F_CALL;
    m->src = b->self;
    m->dst = dst;
    m->session = session;
    ab_send(b->rt, m);
}

/* ---- dispatch ---- */

static unsigned per_vm_limit(bus *b)
{
    return b->n_vms <= 1 ? 1 : AB_BUS_PER_VM;
}

static int pick_vm(bus *b, unsigned *out)
{
    unsigned best = 0;
    for (unsigned i = 1; i < b->n_vms; i++)
        if (b->load[i] < b->load[best])
            best = i;
    if (b->n_vms == 0 || b->load[best] >= per_vm_limit(b))
        return 0;
    *out = best;
    return 1;
}

static void run_host(bus *b, event *e, const ab_host_handler *h)
{
    char *reply = NULL;
    int rc = h->fn(h->ud, e->kind, e->id, e->payload, e->meta ? e->meta : "null", &reply);
    b->st.dispatched++;
    if (rc != 0) {
        char *msg = ab_xasprintf("handler panic: %s", reply ? reply : "host handler failed");
        finish_event(b, e, NULL, msg);
        free(msg);
    } else {
        finish_event(b, e, reply ? reply : "null", NULL);
    }
    free(reply);
}

static void dispatch_lua(bus *b, event *e, route *r, unsigned vm)
{
    pending *p = add_pending(b, P_DISPATCH, vm);
    p->ev = e;
    if (r->serial) {
        r->busy = 1;
        p->rt_used = r;
    }
    b->load[vm]++;
    b->in_flight++;
    b->st.dispatched++;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    /* AB_MSG_CALL_LUA bodies are a sequence of values: the arguments of __ab_on_call. */
    pack_str(&pk, "dispatch");
    pack_str(&pk, e->kind);
    pack_str(&pk, e->id);
    pack_str(&pk, e->payload);
    pack_str(&pk, e->meta ? e->meta : "null");
    send_call(b, b->vms[vm], p->session, &sb);
    msgpack_sbuffer_destroy(&sb);
}

static void admit_waiting(bus *b);

/* Starts every queued event that can start now (serving only). */
static void pump(bus *b)
{
    if (b->state != B_SERVING)
        return;
    event **pp = &b->q_head;
    event *prev = NULL;
    while (*pp) {
        event *e = *pp;
        route *r = find_route(b, e->kind);
        int started = 1;
        unsigned vm = 0;
        if (!r) {
            ab_log(AB_LOG_WARN, "agent_block::bus", "bus: no handler for event; nacking kind=%s",
                   e->kind);
            b->st.nacked++;
        } else if (!r->host && ((r->serial && r->busy) || !pick_vm(b, &vm))) {
            started = 0;
        }
        if (!started) {
            if (!r->serial)
                break; /* no VM has room: keep FIFO order */
            prev = e;  /* this kind is busy: later events of other kinds may go first */
            pp = &e->next;
            continue;
        }
        *pp = e->next;
        if (b->q_tail == e)
            b->q_tail = prev;
        b->q_len--;
        e->next = NULL;
        if (!r) {
            char *msg = ab_xasprintf("no handler for kind `%s`", e->kind);
            finish_event(b, e, NULL, msg);
            free(msg);
        } else if (r->host) {
            run_host(b, e, r->host);
        } else {
            dispatch_lua(b, e, r, vm);
        }
    }
    admit_waiting(b);
}

/* Moves waiting producers' events into the queue while there is room, answering EMITs. */
static void admit_waiting(bus *b)
{
    while (b->w_head && b->q_len < b->capacity) {
        event *e = b->w_head;
        b->w_head = e->next;
        if (!b->w_head)
            b->w_tail = NULL;
        e->next = NULL;
        if (b->q_tail)
            b->q_tail->next = e;
        else
            b->q_head = e;
        b->q_tail = e;
        b->q_len++;
        if (!e->has_ack) {
            ab_reply(b->rt, e->req, 0, NULL, 0);
            ab_msg_free(e->req);
            e->req = NULL;
        }
    }
}

/* ---- messages ---- */

#define MAX_ARGS 8

/* Reads a request body: either one msgpack array of arguments or a sequence of values (both
 * forms are accepted, see bus.h). Objects live in zone. Returns the argument count, or -1. */
static int read_args(const ab_msg *m, msgpack_zone *zone, msgpack_object *out)
{
    size_t off = 0;
    int n = 0;
    msgpack_object o;
    while (off < m->len && n < MAX_ARGS) {
        msgpack_unpack_return r = msgpack_unpack(m->body, m->len, &off, zone, &o);
        if (r != MSGPACK_UNPACK_SUCCESS && r != MSGPACK_UNPACK_EXTRA_BYTES)
            return -1;
        if (n == 0 && o.type == MSGPACK_OBJECT_ARRAY && off == m->len) {
            uint32_t k = o.via.array.size < MAX_ARGS ? o.via.array.size : MAX_ARGS;
            for (uint32_t i = 0; i < k; i++)
                out[i] = o.via.array.ptr[i];
            return (int)k;
        }
        out[n++] = o;
    }
    return n;
}

static event *parse_event(ab_msg *m, int has_ack)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object a[MAX_ARGS];
    event *e = NULL;
    int n = read_args(m, &zone, a);
    if (n >= 3) {
        e = ab_xcalloc(1, sizeof *e);
        e->kind = obj_str(&a[0]);
        e->id = obj_str(&a[1]);
        e->payload = obj_str(&a[2]);
        e->meta = n >= 4 ? obj_str(&a[3]) : NULL;
        e->has_ack = has_ack;
        if (!e->kind || !e->id || !e->payload) {
            e->req = NULL;
            free_event(e);
            e = NULL;
        }
    }
    msgpack_zone_destroy(&zone);
    return e;
}

static void on_event(ab_actor *self, bus *b, ab_msg *m, int has_ack)
{
    if (b->state == B_STOPPING || b->state == B_CLOSED) {
        ab_reply_error(b->rt, m, AB_ECLOSED, "bus channel closed");
        return;
    }
    event *e = parse_event(m, has_ack);
    if (!e) {
        ab_reply_error(b->rt, m, AB_EPROTO, "malformed bus event");
        return;
    }
    ab_msg_keep(self);
    e->req = m;
    b->st.received++;
    /* Queue behind anyone already waiting, so producers keep their order. */
    if (b->w_tail)
        b->w_tail->next = e;
    else
        b->w_head = e;
    b->w_tail = e;
    admit_waiting(b);
    pump(b);
}

/* Unlinks the event of producer src with session from the list at *head (tail fixed);
 * returns it or NULL. */
static event *unlink_event(event **head, event **tail, ab_handle src, uint32_t session)
{
    event *prev = NULL;
    for (event **pp = head; *pp; prev = *pp, pp = &(*pp)->next) {
        event *e = *pp;
        if (e->has_ack && e->req && e->req->src == src && e->req->session == session) {
            *pp = e->next;
            if (*tail == e)
                *tail = prev;
            e->next = NULL;
            return e;
        }
    }
    return NULL;
}

/* AB_MSG_BUS_CANCEL (bus.h): the producer m->src gave up on its event with that session. */
static void on_cancel(bus *b, ab_msg *m)
{
    double d;
    if (ab_mp_get_number(m->body, m->len, &d) != 0 || !(d >= 0 && d <= UINT32_MAX))
        return;
    uint32_t session = (uint32_t)d;
    event *e = unlink_event(&b->w_head, &b->w_tail, m->src, session);
    if (!e) {
        e = unlink_event(&b->q_head, &b->q_tail, m->src, session);
        if (e)
            b->q_len--;
    }
    if (e) {
        ab_log(AB_LOG_DEBUG, "agent_block::bus", "bus: queued event kind=%s id=%s cancelled",
               e->kind, e->id);
        finish_event(b, e, NULL, "handler cancelled");
        admit_waiting(b);
        pump(b);
        return;
    }
    for (pending *p = b->pend; p; p = p->next) {
        if (p->kind != P_DISPATCH || !p->ev->req || p->ev->req->src != m->src ||
            p->ev->req->session != session)
            continue;
        if (!p->cancelling) {
            ab_log(AB_LOG_DEBUG, "agent_block::bus", "bus: running event kind=%s id=%s cancelled",
                   p->ev->kind, p->ev->id);
            p->cancelling = 1;
            ab_msg *c = ab_msg_new(AB_MSG_CALL_CANCEL, 0);
            c->src = b->self;
            c->dst = b->vms[p->vm];
            c->session = p->session;
            ab_send(b->rt, c);
        }
        return;
    }
    ab_log(AB_LOG_DEBUG, "agent_block::bus", "bus: cancel of an unknown or finished event ignored");
}

static void on_register(ab_actor *self, bus *b, ab_msg *m)
{
    if (b->served) {
        ab_reply_error(b->rt, m, AB_EINVAL,
                       "bus.serve() has already taken ownership; register handlers before "
                       "calling bus.serve()");
        return;
    }
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object a[MAX_ARGS];
    if (read_args(m, &zone, a) != 3) {
        msgpack_zone_destroy(&zone);
        ab_reply_error(b->rt, m, AB_EPROTO, "malformed bus registration");
        return;
    }
    char *kind = obj_str(&a[0]); /* NULL (nil) = on_any */
    const msgpack_object *code = &a[1];
    int serial = a[2].type == MSGPACK_OBJECT_BOOLEAN && a[2].via.boolean;
    route *r = find_exact(b, kind);
    if (r)
        ab_log(AB_LOG_WARN, "agent_block::bus",
               "bus.on: duplicate registration (last-write-wins) kind=%s",
               kind ? kind : "__on_any");
    r = add_route(b, kind);
    r->host = NULL;
    r->serial = serial;

    reg *rg = ab_xcalloc(1, sizeof *rg);
    rg->req = m;
    ab_msg_keep(self);
    rg->waiting = b->n_vms;
    for (unsigned i = 0; i < b->n_vms; i++) {
        pending *p = add_pending(b, P_LOAD, i);
        p->reg = rg;
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        pack_str(&pk, "load");
        pack_str(&pk, kind ? kind : "__on_any");
        msgpack_pack_object(&pk, *code);
        send_call(b, b->vms[i], p->session, &sb);
        msgpack_sbuffer_destroy(&sb);
    }
    free(kind);
    msgpack_zone_destroy(&zone);
    if (rg->waiting == 0) {
        ab_reply(b->rt, rg->req, 0, NULL, 0);
        ab_msg_free(rg->req);
        free(rg);
    }
}

static void load_done(bus *b, pending *p, ab_msg *m)
{
    reg *rg = p->reg;
    if (m->status < 0 && !rg->error)
        rg->error = ab_xstrndup(m->body, m->len);
    if (--rg->waiting)
        return;
    if (rg->error)
        ab_reply_error(b->rt, rg->req, AB_EINVAL, rg->error);
    else
        ab_reply(b->rt, rg->req, 0, NULL, 0);
    ab_msg_free(rg->req);
    free(rg->error);
    free(rg);
}

static void reply_serve(bus *b)
{
    if (b->serve_req) {
        ab_reply(b->rt, b->serve_req, 0, NULL, 0);
        ab_msg_free(b->serve_req);
        b->serve_req = NULL;
    }
    if (b->state == B_STOPPING)
        b->state = B_CLOSED;
    if (b->serving)
        atomic_store(b->serving, 0);
}

static void dispatch_done(bus *b, pending *p, ab_msg *m)
{
    event *e = p->ev;
    b->load[p->vm]--;
    b->in_flight--;
    if (p->rt_used)
        p->rt_used->busy = 0;
    if (m->status == 0) {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        char *ack = NULL;
        if (msgpack_unpack_next(&u, m->body, m->len, &off) == MSGPACK_UNPACK_SUCCESS)
            ack = obj_str(&u.data); /* the first return value of __bus_dispatch */
        msgpack_unpacked_destroy(&u);
        finish_event(b, e, ack ? ack : "null", NULL);
        free(ack);
    } else if (m->status == AB_ECANCELED || b->state == B_CLOSED) {
        finish_event(b, e, NULL, "handler cancelled");
    } else {
        char *msg = ab_xasprintf("isle error: lua error: %.*s", (int)m->len, m->body);
        finish_event(b, e, NULL, msg);
        free(msg);
    }
    if (b->state == B_STOPPING && b->in_flight == 0) {
        ab_rt_timer_stop(b->rt, b->self, GRACE_SESSION);
        reply_serve(b);
    }
    pump(b);
}

static void on_reply(bus *b, ab_msg *m)
{
    if (m->session == GRACE_SESSION) {
        if (b->state != B_STOPPING)
            return;
        ab_log(AB_LOG_WARN, "agent_block::bus", "bus.serve: grace window exceeded; forcing exit");
        /* The handler VMs are no longer needed: cancelling them drops every running handler
         * at its next instruction or suspension point; their replies become "handler
         * cancelled". */
        for (unsigned i = 0; i < b->n_vms; i++)
            ab_actor_cancel(b->rt, b->vms[i]);
        b->state = B_CLOSED;
        reply_serve(b);
        return;
    }
    pending *p = take_pending(b, m->session);
    if (!p)
        return;
    if (p->kind == P_LOAD)
        load_done(b, p, m);
    else
        dispatch_done(b, p, m);
    free(p);
}

/* Stop intake; queued events are not drained (their acks get "ack dropped"); in-flight
 * handlers get the grace window. */
static void on_stop(bus *b)
{
    if (b->state != B_SERVING)
        return;
    b->state = B_STOPPING;
    while (b->q_head) {
        event *e = b->q_head;
        b->q_head = e->next;
        b->st.dropped++;
        finish_event(b, e, NULL, "ack dropped");
    }
    b->q_tail = NULL;
    b->q_len = 0;
    while (b->w_head) {
        event *e = b->w_head;
        b->w_head = e->next;
        if (e->has_ack) {
            b->st.dropped++;
            finish_event(b, e, NULL, "ack dropped");
        } else {
            ab_reply_error(b->rt, e->req, AB_ECLOSED, "bus channel closed");
            free_event(e);
        }
    }
    b->w_tail = NULL;
    if (b->in_flight == 0)
        reply_serve(b);
    else
        ab_rt_timer_start(b->rt, b->self, GRACE_SESSION, b->grace_ms);
}

static void on_serve(ab_actor *self, bus *b, ab_msg *m)
{
    if (b->served) {
        ab_reply_error(b->rt, m, AB_EINVAL,
                       b->auto_served ? "bus already consumed" : "already running");
        return;
    }
    b->served = 1;
    b->auto_served = m->src == 0;
    b->state = B_SERVING;
    if (b->serving)
        atomic_store(b->serving, 1);
    if (m->flags & AB_MSG_F_CALL) {
        ab_msg_keep(self);
        b->serve_req = m;
    }
    pump(b);
}

static void on_stats(bus *b, ab_msg *m)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    static const char *const names[] = {"received",  "dispatched", "acked",  "failed",
                                        "nacked",    "dropped",    "queued", "waiting",
                                        "in_flight", "capacity",   "workers"};
    unsigned waiting = 0;
    for (event *e = b->w_head; e; e = e->next)
        waiting++;
    uint64_t vals[] = {b->st.received, b->st.dispatched, b->st.acked, b->st.failed,
                       b->st.nacked,   b->st.dropped,    b->q_len,    waiting,
                       b->in_flight,   b->capacity,      b->n_vms};
    msgpack_pack_map(&pk, 12);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        pack_str(&pk, names[i]);
        msgpack_pack_uint64(&pk, vals[i]);
    }
    pack_str(&pk, "state");
    pack_str(&pk, b->state == B_IDLE       ? "idle"
                  : b->state == B_SERVING  ? "serving"
                  : b->state == B_STOPPING ? "stopping"
                                           : "closed");
    ab_reply(b->rt, m, 0, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

static void handle(ab_actor *self, ab_msg *m)
{
    bus *b = ab_actor_ud(self);
    switch (m->type) {
    case AB_MSG_BUS_EVENT:
        on_event(self, b, m, 1);
        break;
    case AB_MSG_BUS_EMIT:
        on_event(self, b, m, 0);
        break;
    case AB_MSG_BUS_CANCEL:
        on_cancel(b, m);
        break;
    case AB_MSG_BUS_REGISTER:
        on_register(self, b, m);
        break;
    case AB_MSG_BUS_SERVE:
        on_serve(self, b, m);
        break;
    case AB_MSG_BUS_STOP:
        on_stop(b);
        break;
    case AB_MSG_BUS_STATS:
        on_stats(b, m);
        break;
    case AB_MSG_REPLY:
        on_reply(b, m);
        break;
    default:
        if (m->flags & AB_MSG_F_CALL)
            ab_reply_error(b->rt, m, AB_EINVAL, "unsupported message");
        break;
    }
}

static void destroy(ab_actor *self)
{
    bus *b = ab_actor_ud(self);
    ab_log(b->st.received ? AB_LOG_INFO : AB_LOG_DEBUG, "agent_block::bus",
           "bus stats: received=%llu dispatched=%llu acked=%llu failed=%llu nacked=%llu "
           "dropped=%llu queued=%u in_flight=%u",
           (unsigned long long)b->st.received, (unsigned long long)b->st.dispatched,
           (unsigned long long)b->st.acked, (unsigned long long)b->st.failed,
           (unsigned long long)b->st.nacked, (unsigned long long)b->st.dropped, b->q_len,
           b->in_flight);
    for (event *e = b->q_head, *n; e; e = n) {
        n = e->next;
        free_event(e);
    }
    for (event *e = b->w_head, *n; e; e = n) {
        n = e->next;
        free_event(e);
    }
    for (pending *p = b->pend, *n; p; p = n) {
        n = p->next;
        if (p->kind == P_DISPATCH)
            free_event(p->ev);
        else if (p->reg && --p->reg->waiting == 0) {
            ab_msg_free(p->reg->req);
            free(p->reg->error);
            free(p->reg);
        }
        free(p);
    }
    for (route *r = b->routes, *n; r; r = n) {
        n = r->next;
        free(r->kind);
        free(r);
    }
    if (b->serve_req)
        ab_msg_free(b->serve_req);
    free(b->vms);
    free(b->load);
    free(b->hosts);
    free(b);
}

static const ab_actor_ops bus_ops = {
    .name = "bus",
    .handle = handle,
    .destroy = destroy,
};

ab_handle ab_bus_spawn(ab_rt *rt, const ab_bus_config *cfg)
{
    bus *b = ab_xcalloc(1, sizeof *b);
    b->rt = rt;
    b->capacity = cfg->capacity ? cfg->capacity : 64;
    b->grace_ms = cfg->grace_ms;
    b->serving = cfg->serving;
    b->n_vms = cfg->n_vms;
    b->vms = ab_xcalloc(cfg->n_vms ? cfg->n_vms : 1, sizeof *b->vms);
    if (cfg->n_vms)
        memcpy(b->vms, cfg->vms, cfg->n_vms * sizeof *b->vms);
    b->load = ab_xcalloc(cfg->n_vms ? cfg->n_vms : 1, sizeof *b->load);
    b->n_hosts = cfg->n_host_handlers;
    b->hosts = ab_xcalloc(b->n_hosts ? b->n_hosts : 1, sizeof *b->hosts);
    for (size_t i = 0; i < b->n_hosts; i++) {
        b->hosts[i] = cfg->host_handlers[i];
        route *r = add_route(b, b->hosts[i].kind);
        r->host = &b->hosts[i];
    }
    b->self = ab_actor_spawn(rt, &bus_ops, b, AB_ACTOR_WORKER);
    return b->self;
}
