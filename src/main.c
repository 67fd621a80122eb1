/*
 * main.c - the agent-block command line: parse flags into an ab_config, run, map the outcome
 * to an exit status (0 ok, 1 run error, 2 argument error, 128+signo when a signal cancelled).
 */
#include <stdio.h>
#include <stdlib.h>

#include "agent_block.h"
#include "core/cli.h"
#include "mesh/envelope.h"
#include "mesh/relay.h"

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

/* Prints a fresh secret key (64 hex chars) and its agent id, one per line. */
static int keygen(void)
{
    if (ab_mesh_init() != 0)
        return 1;
    unsigned char seed[32];
    ab_mesh_identity id;
    ab_mesh_random_seed(seed);
    ab_mesh_identity_from_seed(&id, seed);
    printf("secret_key=");
    for (int i = 0; i < 32; i++)
        printf("%02x", seed[i]);
    printf("\nagent_id=%s\n", id.id);
    ab_mesh_identity_wipe(&id);
    return 0;
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
        case AB_CLI_RELAY: {
            ab_relay_config rc_cfg;
            ab_relay_config_default(&rc_cfg);
            if (cli.listen_addr)
                rc_cfg.listen = cli.listen_addr;
            rc_cfg.threads = cli.config.threads;
            rc = ab_relay_run(&rc_cfg);
            break;
        }
        case AB_CLI_KEYGEN:
            rc = keygen();
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
