/*
 * test_bus.c - the bus actor driven directly by a C test actor: acks and every error ack text
 * (spec core §4.9.4-4.9.5), dispatch order with one handler VM, parallel dispatch with two,
 * serial kinds, backpressure, host handlers, stop with queued and in-flight events, grace,
 * and a producer's cancel of a queued event, of a running handler (its fiber dropped, its
 * to-be-closed variable closed, the VM serving on) and of an unknown event (ignored).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <msgpack.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lualib.h>

#include "actors/runtime.h"
#include "actors/vm.h"
#include "bus/bus.h"
#include "codec/mpack.h"
#include "core/common.h"

/* ---- a C actor that records replies ---- */

#define MAXR 256

typedef struct reply {
    uint32_t session;
    int32_t status;
    char text[256]; /* error text, or the ack JSON */
} reply;

typedef struct sink {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    reply r[MAXR];
    int n;
} sink;

static void sink_handle(ab_actor *self, ab_msg *m)
{
    sink *s = ab_actor_ud(self);
    if (m->type != AB_MSG_REPLY)
        return;
    pthread_mutex_lock(&s->mu);
    if (s->n < MAXR) {
        reply *r = &s->r[s->n++];
        r->session = m->session;
        r->status = m->status;
        r->text[0] = '\0';
        if (m->status < 0) {
            snprintf(r->text, sizeof r->text, "%.*s", (int)m->len, m->body);
        } else if (m->len) {
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            size_t off = 0;
            /* an ack is one msgpack string (bus.h) */
            if (msgpack_unpack_next(&u, m->body, m->len, &off) == MSGPACK_UNPACK_SUCCESS &&
                u.data.type == MSGPACK_OBJECT_STR && off == m->len)
                snprintf(r->text, sizeof r->text, "%.*s", (int)u.data.via.str.size,
                         u.data.via.str.ptr);
            msgpack_unpacked_destroy(&u);
        }
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static const ab_actor_ops sink_ops = {.name = "sink", .handle = sink_handle};

/* Waits (<= 10 s) for the reply with session; returns it (a copy) or fails the test. */
static reply wait_reply(sink *s, uint32_t session)
{
    uint64_t until = ab_now_ms() + 10000;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        for (int i = 0; i < s->n; i++) {
            if (s->r[i].session == session) {
                reply r = s->r[i];
                pthread_mutex_unlock(&s->mu);
                return r;
            }
        }
        if (ab_now_ms() > until)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    fail_msg("no reply for session %u", session);
    reply none = {0};
    return none;
}

static int has_reply(sink *s, uint32_t session)
{
    pthread_mutex_lock(&s->mu);
    int found = 0;
    for (int i = 0; i < s->n; i++)
        found |= s->r[i].session == session;
    pthread_mutex_unlock(&s->mu);
    return found;
}

/* ---- fixture ---- */

typedef struct fx {
    ab_rt *rt;
    sink s;
    ab_handle me, bus;
    ab_handle vms[4];
    atomic_int serving;
    char dir[64];
    char script[128];
} fx;

static void fx_start(fx *f, unsigned workers, unsigned capacity, unsigned grace_ms,
                     const ab_host_handler *hosts, size_t n_hosts)
{
    memset(f, 0, sizeof *f);
    strcpy(f->dir, "/tmp/ab-test-bus-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->script, sizeof f->script, "%s/handlers.lua", f->dir);
    ab_rt_options o = {.threads = 2};
    f->rt = ab_rt_new(&o);
    pthread_mutex_init(&f->s.mu, NULL);
    pthread_cond_init(&f->s.cv, NULL);
    f->me = ab_actor_spawn(f->rt, &sink_ops, &f->s, AB_ACTOR_WORKER);
    for (unsigned i = 0; i < workers; i++) {
        ab_vm_config vc = {.script_path = f->script,
                           .script_name = "handlers.lua",
                           .project_root = f->dir,
                           .agent_id = "",
                           .handler_vm = 1};
        char *err = NULL;
        assert_int_equal(ab_vm_spawn(f->rt, &vc, &f->vms[i], &err), 0);
    }
    ab_bus_config bc = {.capacity = capacity,
                        .grace_ms = grace_ms,
                        .vms = f->vms,
                        .n_vms = workers,
                        .host_handlers = hosts,
                        .n_host_handlers = n_hosts,
                        .serving = &f->serving};
    f->bus = ab_bus_spawn(f->rt, &bc);
}

static void fx_stop(fx *f)
{
    ab_rt_destroy(f->rt);
    pthread_mutex_destroy(&f->s.mu);
    pthread_cond_destroy(&f->s.cv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
}

static uint32_t next_session = 1;

static uint32_t send_msg(fx *f, uint32_t type, msgpack_sbuffer *sb)
{
    ab_msg *m = ab_msg_with_body(type, sb ? sb->data : NULL, sb ? sb->size : 0);
    m->flags = AB_MSG_F_CALL;
    m->src = f->me;
    m->dst = f->bus;
    m->session = next_session++;
    uint32_t s = m->session;
    ab_send(f->rt, m);
    return s;
}

static void pstr(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static int writer(lua_State *L, const void *p, size_t sz, void *ud)
{
    (void)L;
    ab_buf_append(ud, p, sz);
    return 0;
}

/* Registers a Lua handler (source of a function expression) for kind (NULL = on_any). */
static void register_handler(fx *f, const char *kind, const char *fn_src, int serial)
{
    lua_State *L = luaL_newstate();
    char chunk[2048];
    snprintf(chunk, sizeof chunk, "return %s", fn_src);
    assert_int_equal(luaL_dostring(L, chunk), 0);
    ab_buf code;
    ab_buf_init(&code);
    lua_dump(L, writer, &code, 1);
    lua_close(L);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    if (kind)
        pstr(&pk, kind);
    else
        msgpack_pack_nil(&pk);
    msgpack_pack_bin(&pk, code.len);
    msgpack_pack_bin_body(&pk, code.data, code.len);
    if (serial)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    ab_buf_free(&code);
    reply r = wait_reply(&f->s, send_msg(f, AB_MSG_BUS_REGISTER, &sb));
    msgpack_sbuffer_destroy(&sb);
    assert_int_equal(r.status, 0);
}

static uint32_t event(fx *f, uint32_t type, const char *kind, const char *payload)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, type == AB_MSG_BUS_EVENT ? 4 : 3);
    pstr(&pk, kind);
    pstr(&pk, "id-1");
    pstr(&pk, payload);
    if (type == AB_MSG_BUS_EVENT)
        pstr(&pk, "{\"from\":\"tester\"}");
    uint32_t s = send_msg(f, type, &sb);
    msgpack_sbuffer_destroy(&sb);
    return s;
}

static uint32_t serve(fx *f)
{
    return send_msg(f, AB_MSG_BUS_SERVE, NULL);
}

static void stop(fx *f)
{
    ab_msg *m = ab_msg_new(AB_MSG_BUS_STOP, 0);
    m->dst = f->bus;
    ab_send(f->rt, m);
}

/* ---- tests ---- */

static void test_acks_and_errors(void **state)
{
    (void)state;
    fx f;
    fx_start(&f, 1, 64, 1000, NULL, 0);
    register_handler(&f, "echo",
                     "function(ev) return {n = ev.payload.n + 1, from = ev.meta.from, "
                     "kind = ev.kind, id = ev.id} end",
                     0);
    register_handler(&f, "boom", "function(ev) error('deliberate') end", 0);
    register_handler(&f, "nil", "function(ev) return nil end", 0);
    uint32_t s_echo = event(&f, AB_MSG_BUS_EVENT, "echo", "{\"n\":41}");
    uint32_t s_boom = event(&f, AB_MSG_BUS_EVENT, "boom", "{}");
    uint32_t s_nil = event(&f, AB_MSG_BUS_EVENT, "nil", "null");
    uint32_t s_none = event(&f, AB_MSG_BUS_EVENT, "ghost", "{}");
    uint32_t s_bad = event(&f, AB_MSG_BUS_EVENT, "echo", "{not json");
    /* the same event as a msgpack sequence instead of an array (the mesh link's form) */
    msgpack_sbuffer sq;
    msgpack_sbuffer_init(&sq);
    msgpack_packer pq;
    msgpack_packer_init(&pq, &sq, msgpack_sbuffer_write);
    pstr(&pq, "echo");
    pstr(&pq, "id-1");
    pstr(&pq, "{\"n\":1}");
    pstr(&pq, "{\"from\":\"seq\"}");
    uint32_t s_seq = send_msg(&f, AB_MSG_BUS_EVENT, &sq);
    msgpack_sbuffer_destroy(&sq);
    /* Nothing runs before serve (upstream has no dispatcher until bus.serve). */
    usleep(100000);
    assert_false(has_reply(&f.s, s_echo));
    serve(&f);
    reply r = wait_reply(&f.s, s_echo);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.text, "{\"from\":\"tester\",\"id\":\"id-1\",\"kind\":\"echo\",\"n\":42}");
    r = wait_reply(&f.s, s_boom);
    assert_true(r.status < 0);
    assert_string_equal(r.text, "isle error: lua error: deliberate");
    r = wait_reply(&f.s, s_nil);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.text, "null");
    r = wait_reply(&f.s, s_none);
    assert_string_equal(r.text, "no handler for kind `ghost`");
    r = wait_reply(&f.s, s_seq);
    assert_string_equal(r.text, "{\"from\":\"seq\",\"id\":\"id-1\",\"kind\":\"echo\",\"n\":2}");
    r = wait_reply(&f.s, s_bad);
    assert_non_null(strstr(r.text, "isle error: lua error: payload decode: "));
    fx_stop(&f);
}

static void test_on_any_and_last_write_wins(void **state)
{
    (void)state;
    fx f;
    fx_start(&f, 1, 64, 1000, NULL, 0);
    register_handler(&f, NULL, "function(ev) return 'any:' .. ev.kind end", 0);
    register_handler(&f, "k", "function(ev) return 'first' end", 0);
    register_handler(&f, "k", "function(ev) return 'second' end", 0);
    serve(&f);
    reply r = wait_reply(&f.s, event(&f, AB_MSG_BUS_EVENT, "zzz", "{}"));
    assert_string_equal(r.text, "\"any:zzz\"");
    r = wait_reply(&f.s, event(&f, AB_MSG_BUS_EVENT, "k", "{}"));
    assert_string_equal(r.text, "\"second\"");
    /* registration after serve is refused */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    pstr(&pk, "late");
    pstr(&pk, "x");
    msgpack_pack_false(&pk);
    r = wait_reply(&f.s, send_msg(&f, AB_MSG_BUS_REGISTER, &sb));
    msgpack_sbuffer_destroy(&sb);
    assert_string_equal(r.text, "bus.serve() has already taken ownership; register handlers "
                                "before calling bus.serve()");
    r = wait_reply(&f.s, serve(&f));
    assert_string_equal(r.text, "already running");
    fx_stop(&f);
}

/* With one handler VM events run one at a time, in order; with two, two slow handlers overlap. */
static void test_serial_vs_parallel(void **state)
{
    (void)state;
    for (unsigned workers = 1; workers <= 2; workers++) {
        fx f;
        fx_start(&f, workers, 64, 1000, NULL, 0);
        register_handler(&f, "slow",
                         "function(ev) local t0 = std.time.now(); std.task.sleep(200); "
                         "return {t0 = t0, t1 = std.time.now()} end",
                         0);
        serve(&f);
        uint64_t start = ab_now_ms();
        uint32_t a = event(&f, AB_MSG_BUS_EVENT, "slow", "{}");
        uint32_t b = event(&f, AB_MSG_BUS_EVENT, "slow", "{}");
        wait_reply(&f.s, a);
        wait_reply(&f.s, b);
        uint64_t took = ab_now_ms() - start;
        if (workers == 1)
            assert_true(took >= 400); /* strictly serial */
        else
            assert_true(took < 380); /* both at once */
        fx_stop(&f);
    }
}

static void test_serial_kind(void **state)
{
    (void)state;
    fx f;
    fx_start(&f, 2, 64, 1000, NULL, 0);
    register_handler(&f, "ordered", "function(ev) std.task.sleep(100); return ev.payload.i end", 1);
    serve(&f);
    uint64_t start = ab_now_ms();
    uint32_t s[3];
    for (int i = 0; i < 3; i++) {
        char p[32];
        snprintf(p, sizeof p, "{\"i\":%d}", i);
        s[i] = event(&f, AB_MSG_BUS_EVENT, "ordered", p);
    }
    for (int i = 0; i < 3; i++) {
        reply r = wait_reply(&f.s, s[i]);
        char want[8];
        snprintf(want, sizeof want, "%d", i);
        assert_string_equal(r.text, want);
    }
    assert_true(ab_now_ms() - start >= 300); /* one at a time even with two VMs */
    fx_stop(&f);
}

/* A full queue delays the producer's reply (backpressure); nothing is dropped. */
static void test_backpressure(void **state)
{
    (void)state;
    fx f;
    fx_start(&f, 1, 2, 1000, NULL, 0);
    register_handler(&f, "k", "function(ev) return ev.payload end", 0);
    uint32_t e1 = event(&f, AB_MSG_BUS_EMIT, "k", "1");
    uint32_t e2 = event(&f, AB_MSG_BUS_EMIT, "k", "2");
    uint32_t e3 = event(&f, AB_MSG_BUS_EMIT, "k", "3");
    wait_reply(&f.s, e1);
    wait_reply(&f.s, e2);
    usleep(100000);
    assert_false(has_reply(&f.s, e3)); /* waits for room */
    serve(&f);
    reply r = wait_reply(&f.s, e3);
    assert_int_equal(r.status, 0);
    fx_stop(&f);
}

static int host_fn(void *ud, const char *kind, const char *id, const char *payload,
                   const char *meta, char **reply_json)
{
    (void)ud;
    (void)id;
    (void)meta;
    if (strcmp(payload, "\"fail\"") == 0) {
        *reply_json = strdup("bad input");
        return 1;
    }
    char *out = malloc(strlen(kind) + strlen(payload) + 16);
    sprintf(out, "{\"%s\":%s}", kind, payload);
    *reply_json = out;
    return 0;
}

static void test_host_handlers(void **state)
{
    (void)state;
    ab_host_handler h = {.kind = "native", .fn = host_fn};
    fx f;
    fx_start(&f, 1, 64, 1000, &h, 1);
    serve(&f);
    reply r = wait_reply(&f.s, event(&f, AB_MSG_BUS_EVENT, "native", "{\"ok\":true}"));
    assert_string_equal(r.text, "{\"native\":{\"ok\":true}}");
    r = wait_reply(&f.s, event(&f, AB_MSG_BUS_EVENT, "native", "\"fail\""));
    assert_string_equal(r.text, "handler panic: bad input");
    fx_stop(&f);
}

/* Stop: queued events get "ack dropped", later ones "bus channel closed", an in-flight handler
 * past the grace window "handler cancelled", and serve returns. */
static void test_stop_and_grace(void **state)
{
    (void)state;
    fx f;
    fx_start(&f, 1, 64, 150, NULL, 0);
    register_handler(&f, "stuck", "function(ev) while true do end end", 0);
    uint32_t sv = serve(&f);
    uint32_t a = event(&f, AB_MSG_BUS_EVENT, "stuck", "{}");
    uint32_t b = event(&f, AB_MSG_BUS_EVENT, "stuck", "{}");
    usleep(100000);
    assert_int_equal(atomic_load(&f.serving), 1);
    uint64_t t0 = ab_now_ms();
    stop(&f);
    reply r = wait_reply(&f.s, b);
    assert_string_equal(r.text, "ack dropped");
    r = wait_reply(&f.s, sv);
    assert_int_equal(r.status, 0);
    uint64_t took = ab_now_ms() - t0;
    assert_true(took >= 140 && took < 2000);
    r = wait_reply(&f.s, a);
    assert_string_equal(r.text, "handler cancelled");
    r = wait_reply(&f.s, event(&f, AB_MSG_BUS_EVENT, "stuck", "{}"));
    assert_string_equal(r.text, "bus channel closed");
    assert_int_equal(atomic_load(&f.serving), 0);
    fx_stop(&f);
}

static void cancel_event(fx *f, uint32_t session)
{
    char body[9];
    size_t n = ab_mp_put_double(body, session);
    ab_msg *m = ab_msg_with_body(AB_MSG_BUS_CANCEL, body, n);
    m->src = f->me;
    m->dst = f->bus;
    ab_send(f->rt, m);
}

/* AB_MSG_BUS_CANCEL: a queued event is removed, a running handler is dropped at its suspension
 * point; both are answered "handler cancelled"; the VM keeps serving. */
static void test_cancel(void **state)
{
    (void)state;
    fx f;
    fx_start(&f, 1, 64, 1000, NULL, 0);
    register_handler(&f, "slow",
                     "function(ev) local t <close> = setmetatable({}, {__close = function() "
                     "CLOSED = (CLOSED or 0) + 1 end}); STARTED = (STARTED or 0) + 1; "
                     "std.task.sleep(5000); DONE = true; return 'done' end",
                     0);
    register_handler(&f, "probe",
                     "function(ev) return {started = STARTED, closed = CLOSED, done = DONE} end",
                     0);
    serve(&f);
    uint32_t a = event(&f, AB_MSG_BUS_EVENT, "slow", "{}");
    uint32_t b = event(&f, AB_MSG_BUS_EVENT, "slow", "{}"); /* queued: one VM, serial */
    usleep(100000);
    uint64_t t0 = ab_now_ms();
    cancel_event(&f, b);
    reply r = wait_reply(&f.s, b);
    assert_true(r.status < 0);
    assert_string_equal(r.text, "handler cancelled");
    assert_false(has_reply(&f.s, a));
    cancel_event(&f, 999999); /* unknown: ignored */
    cancel_event(&f, a);
    cancel_event(&f, a); /* twice: still one reply */
    r = wait_reply(&f.s, a);
    assert_true(r.status < 0);
    assert_string_equal(r.text, "handler cancelled");
    assert_true(ab_now_ms() - t0 < 4000); /* not the 5 s sleep */
    r = wait_reply(&f.s, event(&f, AB_MSG_BUS_EVENT, "probe", "{}"));
    assert_int_equal(r.status, 0);
    assert_string_equal(r.text, "{\"closed\":1,\"started\":1}");
    usleep(100000);
    pthread_mutex_lock(&f.s.mu);
    int n_a = 0;
    for (int i = 0; i < f.s.n; i++)
        n_a += f.s.r[i].session == a;
    pthread_mutex_unlock(&f.s.mu);
    assert_int_equal(n_a, 1);
    fx_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acks_and_errors),
        cmocka_unit_test(test_on_any_and_last_write_wins),
        cmocka_unit_test(test_serial_vs_parallel),
        cmocka_unit_test(test_serial_kind),
        cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_host_handlers),
        cmocka_unit_test(test_stop_and_grace),
        cmocka_unit_test(test_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
