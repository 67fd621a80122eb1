/*
 * log.h - levelled logging to stderr, one line per event:
 *   2026-11-23T22:38:32.123456Z  INFO lua: message script=hello.lua
 * The filter comes from AGENT_BLOCK_LOG, else RUST_LOG (EnvFilter subset: "off", a bare level,
 * "target=level" directives separated by commas; a target matches itself and "target::..."),
 * default "info". Any thread may log; each line is written with one write(2).
 * print() output goes to stdout and is never mixed into these lines.
 */
#ifndef AB_LOG_H
#define AB_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum ab_log_level {
    AB_LOG_OFF = 0,
    AB_LOG_ERROR = 1,
    AB_LOG_WARN = 2,
    AB_LOG_INFO = 3,
    AB_LOG_DEBUG = 4,
    AB_LOG_TRACE = 5,
} ab_log_level;

/* (Re)reads the filter from the environment. Call once at start, before threads log. */
void ab_log_init_from_env(void);
/* Sets the filter from a spec string (same syntax as RUST_LOG); NULL or "" = "info". */
void ab_log_set_filter(const char *spec);
/* 1 if a line at lvl for target would be written. Cheap; any thread. */
int ab_log_enabled(ab_log_level lvl, const char *target);
/* Writes one line if enabled. target is e.g. "lua", "agent_block". */
void ab_log(ab_log_level lvl, const char *target, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ab_logv(ab_log_level lvl, const char *target, const char *fmt, va_list ap);
/* Writes msg (len bytes, may contain any bytes) followed by extra text (may be NULL). */
void ab_log_raw(ab_log_level lvl, const char *target, const char *msg, size_t len,
                const char *suffix);

/*
 * Observability line (spec core §4.13), logged at lvl with target "agent_block::obs":
 *   prefix=ab.obs event=<event> component=<component> trace_id=.. run_id=.. agent_id=..
 *   agent_name=.. <k=v ...>
 * kv is a NULL-terminated array of alternating keys and values. fallback_agent_id is used when
 * AGENT_BLOCK_AGENT_ID is empty (NULL = the per-process random UUID). Values are escaped and
 * secrets redacted per §4.13.
 */
void ab_obs_log(ab_log_level lvl, const char *event, const char *component,
                const char *fallback_agent_id, const char *const *kv);
/* Escapes one obs value for key into a malloc'ed string (exposed for tests). */
char *ab_obs_format_value(const char *key, const char *value);
/* Sanitizes a URL per §4.13 into a malloc'ed string (exposed for tests). */
char *ab_obs_sanitize_url(const char *url);
/* The per-process random UUID v4 used as the fallback agent_id. */
const char *ab_obs_process_id(void);

/* Fills out[37] with a fresh random UUID v4 string. */
void ab_uuid_v4(char out[37]);

#endif
