/*
 * main.c - the agent-block command line: parse flags into an ab_config, run, map the outcome
 * to an exit status (0 ok, 1 run error, 2 argument error, 128+signo when a signal cancelled).
 */
#include <stdio.h>
#include <stdlib.h>

#include "agent_block.h"
#include "core/cli.h"

static int run(ab_cli *cli)
{
    char *errmsg = NULL;
    ab_run_status st = ab_run(&cli->config, &errmsg);
    if (st == AB_RUN_OK) {
        free(errmsg);
        return 0;
    }
    int sig = st == AB_RUN_CANCELLED ? ab_last_signal() : 0;
    if (sig > 0) {
        free(errmsg);
        return 128 + sig;
    }
    fprintf(stderr, "Error: %s\n", errmsg ? errmsg : "unknown error");
    free(errmsg);
    return 1;
}

int main(int argc, char **argv)
{
    ab_cli cli;
    char *err = NULL;
    int rc = ab_cli_parse(argc, argv, &cli, &err);
    if (rc == AB_CLI_USAGE) {
        fputs(err, stderr);
    } else if (rc != AB_CLI_OK) {
        fprintf(stderr, "Error: %s\n", err);
    } else {
        switch (cli.command) {
        case AB_CLI_HELP:
            fputs(ab_cli_help_text(), stdout);
            break;
        case AB_CLI_VERSION:
            puts(ab_version_string());
            break;
        case AB_CLI_RELAY:
        case AB_CLI_KEYGEN:
            fprintf(stderr, "agent-block: '%s' is not available in this build\n",
                    cli.command == AB_CLI_RELAY ? "relay" : "keygen");
            rc = 2;
            break;
        case AB_CLI_RUN:
            fflush(stdout);
            rc = run(&cli);
            break;
        }
    }
    free(err);
    ab_cli_free(&cli);
    return rc;
}
