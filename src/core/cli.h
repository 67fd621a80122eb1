/*
 * cli.h - the agent-block command line, parsed into an ab_config plus CLI-only state.
 *
 * Forms (spec core §1, plus the project's own subcommands):
 *   agent-block run SCRIPT [OPTIONS]        agent-block -s SCRIPT [OPTIONS] (upstream form)
 *   agent-block relay [--listen ADDR] [--threads T]
 *   agent-block keygen
 *   agent-block --version | -V              agent-block --help | -h | help
 * Flag env fallbacks (AGENT_BLOCK_PROMPT, AGENT_BLOCK_CONTEXT, AGENT_BLOCK_MESH_SECRET_KEY,
 * AGENT_BLOCK_VM_MEMORY_MB, AGENT_BLOCK_VM_STEP_LIMIT_MS) are read from the process environment
 * at parse time, i.e. before the runtime loads .env.
 */
#ifndef AB_CLI_H
#define AB_CLI_H

#include "agent_block.h"

/* Return values of ab_cli_parse; each equals the process exit status that fits it. */
#define AB_CLI_OK 0
#define AB_CLI_FAIL 1  /* a run error (e.g. --prompt-file unreadable): print "Error: <err>" */
#define AB_CLI_USAGE 2 /* an argument error: print <err> (clap-style text) as is */

typedef enum ab_cli_command {
    AB_CLI_RUN = 0,
    AB_CLI_RELAY,
    AB_CLI_KEYGEN,
    AB_CLI_VERSION,
    AB_CLI_HELP,
} ab_cli_command;

typedef struct ab_cli {
    ab_cli_command command;
    int run_form;            /* 1: "agent-block run SCRIPT", 0: upstream "--script" form */
    ab_config config;        /* strings borrow argv, the environment or the buffers below */
    const char *prompt_file; /* --prompt-file PATH (argv), NULL if absent */
    const char *context_file;
    const char *listen_addr; /* relay --listen ADDR, NULL = default (--threads: config) */
    char *prompt_buf;        /* owned contents of --prompt-file */
    char *context_buf;       /* owned contents of --context-file */
} ab_cli;

/*
 * Parses argv into *out (which the caller need not initialise) and returns AB_CLI_OK,
 * AB_CLI_USAGE or AB_CLI_FAIL. On failure *err receives a malloc'ed message (free with free()):
 * for AB_CLI_USAGE the whole clap-style text ("error: ...\n\nUsage: ...\n\nFor more information,
 * try '--help'.\n") to print on stderr as is; for AB_CLI_FAIL the text after "Error: " including
 * an anyhow-style cause ("failed to read --prompt-file 'p'\n\nCaused by:\n    No such file or
 * directory (os error 2)"), without a trailing newline. Call ab_cli_free(out) in every case.
 * Reads the process environment (getenv); call before threads start.
 */
int ab_cli_parse(int argc, char **argv, ab_cli *out, char **err);

/* Frees what ab_cli_parse allocated in cli (not cli itself). Idempotent. */
void ab_cli_free(ab_cli *cli);

/* The --help text (static storage), printed on stdout. */
const char *ab_cli_help_text(void);

#endif
