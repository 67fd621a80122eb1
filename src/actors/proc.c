/*
 * proc.c - the proc actor (AB_ACTOR_IO): child processes for sh.exec. Contract in proc.h.
 *
 * Accepts: AB_MSG_PROC_EXEC (call), AB_MSG_PROC_ABORT. Sends: AB_MSG_REPLY.
 * States of a child: running (pipes open, timeout armed) -> replied (exit seen and both pipes at
 * EOF: success; or timeout / abort / cancel) -> killing (SIGTERM sent to the group, SIGKILL at
 * the end of the grace) -> closed (every libuv handle closed, record freed). The record lives
 * until libuv has reaped the shell (exit callback), so no zombie is left behind; pipes are
 * CLOEXEC (libuv), so no descriptor leaks into other children.
 * Limits: AB_PROC_OUTPUT_CAP bytes captured per stream.
 */
#define _GNU_SOURCE
#include "actors/proc.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "actors/mp_args.h"
#include "codec/mpack.h"
#include "core/common.h"

typedef struct child child;

typedef struct proc_actor {
    ab_rt *rt;
    child *head;
    char scratch[65536]; /* read buffer: libuv reads synchronously into it */
} proc_actor;

struct child {
    uv_process_t proc;
    uv_pipe_t out, err;
    uv_timer_t timer;
    proc_actor *pa; /* NULL once the actor is destroyed */
    child *prev, *next;
    ab_handle src;
    uint32_t session;
    unsigned timeout_s;
    ab_buf obuf, ebuf;
    int otrunc, etrunc;
    int nopen; /* handles not yet closed */
    int spawned, exited, replied, killing, timer_closed;
    int out_open, err_open;
    int64_t exit_status;
    int term_signal;
};

/* ---- record lifetime ---- */

static void unlink_child(child *c)
{
    if (!c->pa)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->pa->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void on_closed(uv_handle_t *h)
{
    child *c = h->data;
    if (--c->nopen == 0) {
        unlink_child(c);
        ab_buf_free(&c->obuf);
        ab_buf_free(&c->ebuf);
        free(c);
    }
}

static void close_handle(child *c, uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_closed);
}

static void close_pipes(child *c)
{
    if (c->out_open) {
        c->out_open = 0;
        close_handle(c, (uv_handle_t *)&c->out);
    }
    if (c->err_open) {
        c->err_open = 0;
        close_handle(c, (uv_handle_t *)&c->err);
    }
}

static void close_timer(child *c)
{
    if (!c->timer_closed) {
        c->timer_closed = 1;
        uv_timer_stop(&c->timer);
        close_handle(c, (uv_handle_t *)&c->timer);
    }
}

/* ---- replies ---- */

static void reply_error(child *c, int32_t status, const char *text)
{
    ab_msg req = {.src = c->src, .session = c->session};
    c->replied = 1;
    if (c->pa)
        ab_reply_error(c->pa->rt, &req, status, text);
}

static void pack_output(msgpack_packer *pk, const ab_buf *b, int trunc)
{
    size_t extra = trunc ? strlen(AB_PROC_TRUNC_MARK) : 0;
    msgpack_pack_bin(pk, b->len + extra);
    msgpack_pack_bin_body(pk, b->data, b->len);
    if (extra)
        msgpack_pack_bin_body(pk, AB_PROC_TRUNC_MARK, extra);
}

static void reply_success(child *c)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_int64(&pk, c->term_signal ? -1 : c->exit_status);
    pack_output(&pk, &c->obuf, c->otrunc);
    pack_output(&pk, &c->ebuf, c->etrunc);
    ab_msg req = {.src = c->src, .session = c->session};
    c->replied = 1;
    ab_reply(c->pa->rt, &req, 0, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* ---- killing ---- */

static void on_grace(uv_timer_t *t)
{
    child *c = t->data;
    kill(-c->proc.pid, SIGKILL); /* the group: grandchildren that ignored SIGTERM too */
    close_timer(c);
}

/* SIGTERM to the whole group now, SIGKILL after the grace. */
static void start_kill(child *c)
{
    if (c->killing)
        return;
    c->killing = 1;
    kill(-c->proc.pid, SIGTERM);
    if (!c->timer_closed)
        uv_timer_start(&c->timer, on_grace, AB_PROC_KILL_GRACE_MS, 0);
}

/* Completion check after any event. */
static void progress(child *c)
{
    if (!c->replied && c->exited && !c->out_open && !c->err_open)
        reply_success(c);
    if (c->replied && c->exited && !c->out_open && !c->err_open && !c->killing)
        close_timer(c);
}

/* ---- libuv callbacks ---- */

static void on_exit_cb(uv_process_t *p, int64_t status, int signo)
{
    child *c = p->data;
    c->exited = 1;
    c->exit_status = status;
    c->term_signal = signo;
    close_handle(c, (uv_handle_t *)&c->proc);
    progress(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    child *c = h->data;
    (void)suggested;
    buf->base = c->pa->scratch;
    buf->len = sizeof c->pa->scratch;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    child *c = s->data;
    int is_out = s == (uv_stream_t *)&c->out;
    if (n > 0) {
        ab_buf *b = is_out ? &c->obuf : &c->ebuf;
        size_t room = b->len < AB_PROC_OUTPUT_CAP ? AB_PROC_OUTPUT_CAP - b->len : 0;
        size_t take = (size_t)n < room ? (size_t)n : room;
        if (take)
            ab_buf_append(b, buf->base, take);
        if (take < (size_t)n)
            *(is_out ? &c->otrunc : &c->etrunc) = 1;
        return;
    }
    if (n == 0)
        return;
    /* EOF or a read error: this stream is done. */
    if (is_out && c->out_open) {
        c->out_open = 0;
        close_handle(c, (uv_handle_t *)&c->out);
    } else if (!is_out && c->err_open) {
        c->err_open = 0;
        close_handle(c, (uv_handle_t *)&c->err);
    }
    progress(c);
}

static void on_timeout(uv_timer_t *t)
{
    child *c = t->data;
    if (c->replied)
        return;
    char text[64];
    snprintf(text, sizeof text, "timeout after %us", c->timeout_s);
    reply_error(c, AB_ETIMEDOUT, text);
    close_pipes(c);
    start_kill(c);
}

/* ---- requests ---- */

static child *find_child(proc_actor *pa, ab_handle src, uint32_t session)
{
    for (child *c = pa->head; c; c = c->next)
        if (c->src == src && c->session == session && !c->replied)
            return c;
    return NULL;
}

static void start_exec(proc_actor *pa, ab_msg *m)
{
    ab__mp_args a;
    size_t cmd_len = 0, cwd_len = 0;
    const char *cmd = NULL, *cwd = NULL;
    if (ab__mp_args_read(&a, m->body, m->len) >= 3) {
        cmd = ab__mp_str(&a, 0, &cmd_len);
        cwd = ab__mp_str(&a, 1, &cwd_len);
    }
    if (!cmd || !cwd) {
        ab__mp_args_free(&a);
        ab_reply_error(pa->rt, m, AB_EPROTO, "exec error: malformed request");
        return;
    }
    double t = ab__mp_num(&a, 2, 30);
    char *cmdz = ab_xstrndup(cmd, cmd_len);
    char *cwdz = cwd_len ? ab_xstrndup(cwd, cwd_len) : NULL;
    ab__mp_args_free(&a);

    uv_loop_t *loop = ab_rt_loop(pa->rt);
    child *c = ab_xcalloc(1, sizeof *c);
    c->pa = pa;
    c->src = m->src;
    c->session = m->session;
    c->timeout_s = t < 0 ? 0 : t > 4e9 ? 4000000000u : (unsigned)t;
    ab_buf_init(&c->obuf);
    ab_buf_init(&c->ebuf);
    c->proc.data = c->out.data = c->err.data = c->timer.data = c;
    uv_pipe_init(loop, &c->out, 0);
    uv_pipe_init(loop, &c->err, 0);
    uv_timer_init(loop, &c->timer);
    c->nopen = 4; /* proc, out, err, timer (the process handle is initialised by uv_spawn) */
    c->out_open = c->err_open = 1;

    char *args[] = {"sh", "-c", cmdz, NULL};
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_INHERIT_FD, .data.fd = 0},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->out},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&c->err},
    };
    uv_process_options_t o = {
        .exit_cb = on_exit_cb,
        .file = "/bin/sh",
        .args = args,
        .cwd = cwdz,
        .flags = UV_PROCESS_DETACHED, /* setsid(): pid = process group id */
        .stdio_count = 3,
        .stdio = stdio,
    };
    /* Link first: the callbacks below may unlink. */
    c->next = pa->head;
    if (pa->head)
        pa->head->prev = c;
    pa->head = c;
    int r = uv_spawn(loop, &c->proc, &o);
    free(cmdz);
    free(cwdz);
    if (r != 0) {
        char text[256];
        snprintf(text, sizeof text, "exec error: %s (os error %d)", strerror(-r), -r);
        ab_reply_error(pa->rt, m, AB_EINVAL, text);
        c->replied = 1;
        c->exited = 1;
        c->out_open = c->err_open = 0;
        close_handle(c, (uv_handle_t *)&c->proc);
        close_handle(c, (uv_handle_t *)&c->out);
        close_handle(c, (uv_handle_t *)&c->err);
        close_timer(c);
        return;
    }
    c->spawned = 1;
    uv_read_start((uv_stream_t *)&c->out, on_alloc, on_read);
    uv_read_start((uv_stream_t *)&c->err, on_alloc, on_read);
    uv_timer_start(&c->timer, on_timeout, (uint64_t)c->timeout_s * 1000u, 0);
}

static void handle(ab_actor *self, ab_msg *m)
{
    proc_actor *pa = ab_actor_ud(self);
    if (m->type == AB_MSG_PROC_EXEC) {
        start_exec(pa, m);
    } else if (m->type == AB_MSG_PROC_ABORT) {
        child *c = find_child(pa, m->src, m->session);
        if (c) {
            c->replied = 1; /* the requester is gone: no reply */
            close_pipes(c);
            start_kill(c);
        }
    } else if (m->flags & AB_MSG_F_CALL) {
        ab_reply_error(pa->rt, m, AB_EINVAL, "unsupported message");
    }
}

/* Runtime cancellation: every child is stopped and its requester answered. */
static void cancel(ab_actor *self)
{
    proc_actor *pa = ab_actor_ud(self);
    for (child *c = pa->head, *next; c; c = next) {
        next = c->next;
        if (!c->replied)
            reply_error(c, AB_ECANCELED, "cancelled");
        if (c->spawned) {
            close_pipes(c);
            start_kill(c);
        }
    }
}

static void destroy(ab_actor *self)
{
    proc_actor *pa = ab_actor_ud(self);
    for (child *c = pa->head, *next; c; c = next) {
        next = c->next;
        if (c->spawned && !c->exited) {
            kill(-c->proc.pid, SIGKILL);
            waitpid(c->proc.pid, NULL, 0); /* killed: returns at once; no zombie */
            c->exited = 1;
        } else if (c->killing) {
            kill(-c->proc.pid, SIGKILL);
        }
        c->pa = NULL;
        c->prev = c->next = NULL;
        close_pipes(c);
        close_timer(c);
        close_handle(c, (uv_handle_t *)&c->proc);
    }
    free(pa);
}

static const ab_actor_ops proc_ops = {
    .name = "proc",
    .handle = handle,
    .cancel = cancel,
    .destroy = destroy,
};

ab_handle ab_proc_spawn(ab_rt *rt)
{
    proc_actor *pa = ab_xcalloc(1, sizeof *pa);
    pa->rt = rt;
    return ab_actor_spawn(rt, &proc_ops, pa, AB_ACTOR_IO);
}
