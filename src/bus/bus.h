/*
 * bus.h - the event bus actor: kind -> handler routing, the bounded event queue, dispatch
 * across the handler-VM pool, host (C) handlers, bus.serve (spec core §4.9, §2.6).
 *
 * Producers reach it with messages (replies are AB_MSG_REPLY). A request body is msgpack:
 * either one array of the arguments or the arguments as a sequence of values (both accepted).
 *
 *   AB_MSG_BUS_EVENT  (call) kind, id, payload_json, meta_json   an event WITH an ack.
 *       Reply when the handler is done: status 0, body = one msgpack string, ack_json (the
 *       canonical JSON text of the handler's result, "null" for nil); or status < 0 with the
 *       error text, one of
 *       "no handler for kind `<k>`", "isle error: lua error: <msg>", "handler cancelled",
 *       "handler panic: <msg>", "ack dropped" (queued when the bus stopped),
 *       "bus channel closed" (the bus no longer takes events).
 *       The mesh link turns an error reply into {"error":"bus error: <text>"}, except
 *       "ack dropped" / "bus channel closed", which it sends as {"error":"<text>"} (§4.11.3).
 *   AB_MSG_BUS_EMIT   (call) kind, id, payload_json              an event WITHOUT an ack
 *       (bus.emit). Reply (empty body) once the event is queued: a full queue delays the reply
 *       (backpressure: the producer waits, nothing is dropped).
 *   AB_MSG_BUS_CANCEL [session]  (not a call) from the producer of an AB_MSG_BUS_EVENT: the
 *       producer gave up on the event it sent with that session. Still queued (or waiting for
 *       room): removed and answered "handler cancelled". Running a Lua handler: its fiber in
 *       the handler VM is dropped at its suspension point (AB_MSG_CALL_CANCEL) and the event is
 *       answered "handler cancelled" (or with its ack, if the handler finished first). Host
 *       handlers run synchronously and are never running when it arrives; an unknown or
 *       finished event is ignored. The producer may drop its record at once: the bus still
 *       sends exactly one reply per event.
 *
 * Only the bus, the main VM's bus bridge and the host use the other message types (bus.c).
 */
#ifndef AB_BUS_BUS_H
#define AB_BUS_BUS_H

#include <stdatomic.h>

#include "actors/runtime.h"
#include "agent_block.h"

enum {
    AB_MSG_BUS_EVENT = AB_MSG_USER + 100,
    AB_MSG_BUS_EMIT,
    AB_MSG_BUS_REGISTER, /* call [kind|nil, bytecode, serial]: load a Lua handler everywhere */
    AB_MSG_BUS_SERVE,    /* call []: dispatch until stopped; reply when bus.serve returns */
    AB_MSG_BUS_STOP,     /* [] from the host: the first signal while serving */
    AB_MSG_BUS_STATS,    /* call []: reply [map of counters] */
    AB_MSG_BUS_DONE,     /* internal: a handler VM finished an event (reply) */
    AB_MSG_BUS_CANCEL,   /* [session] from a producer: cancel its event (above) */
};

typedef struct ab_bus_config {
    unsigned capacity;    /* AGENT_BLOCK_BUS_CAPACITY (>= 1) */
    unsigned grace_ms;    /* AGENT_BLOCK_TASK_GRACE_MS */
    const ab_handle *vms; /* handler VMs (copied) */
    unsigned n_vms;
    const ab_host_handler *host_handlers; /* copied */
    size_t n_host_handlers;
    /* Set to 1 by the bus while bus.serve() is serving (the host then routes the first
     * SIGINT/SIGTERM to the bus as AB_MSG_BUS_STOP instead of cancelling the run). */
    atomic_int *serving;
} ab_bus_config;

/* Spawns the bus actor (AB_ACTOR_WORKER). Any thread. */
ab_handle ab_bus_spawn(ab_rt *rt, const ab_bus_config *cfg);

#endif
