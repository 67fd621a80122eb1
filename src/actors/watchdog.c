/*
 * watchdog.c - the watchdog actor (AB_ACTOR_IO): a libuv timer on the I/O loop that every
 * AB_WATCHDOG_TICK_MS asks the VM registry (vm.c) to arm the count hook of any VM whose
 * current Lua step has run past its step limit. It accepts no messages and sends none; it
 * exists only when some VM has a step limit, so an idle process does not wake up for it.
 */
#include <stdlib.h>

#include "actors/runtime.h"
#include "actors/vm.h"
#include "core/common.h"

#define AB_WATCHDOG_TICK_MS 5

void ab__vm_watchdog_tick(void);

typedef struct watchdog {
    uv_timer_t timer;
} watchdog;

static void on_tick(uv_timer_t *t)
{
    (void)t;
    ab__vm_watchdog_tick();
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

static void start(ab_rt *rt, void *arg)
{
    watchdog *w = arg;
    uv_timer_init(ab_rt_loop(rt), &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_tick, AB_WATCHDOG_TICK_MS, AB_WATCHDOG_TICK_MS);
}

static void handle(ab_actor *self, ab_msg *m)
{
    (void)self;
    (void)m;
}

static void destroy(ab_actor *self)
{
    watchdog *w = ab_actor_ud(self);
    uv_timer_stop(&w->timer);
    uv_close((uv_handle_t *)&w->timer, on_closed);
}

static const ab_actor_ops watchdog_ops = {
    .name = "watchdog",
    .handle = handle,
    .destroy = destroy,
};

void ab_vm_watchdog_start(ab_rt *rt)
{
    watchdog *w = ab_xcalloc(1, sizeof *w);
    ab_actor_spawn(rt, &watchdog_ops, w, AB_ACTOR_IO);
    /* The timer is initialised on the I/O thread; the io call runs before the actor could be
     * destroyed because shutdown is queued behind it. */
    AB_ASSERT(ab_rt_io_call(rt, start, w) == 0);
}
