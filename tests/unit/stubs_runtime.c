/*
 * stubs_runtime.c - weak stand-ins for the runtime's public functions, so CLI tests (and, with
 * -DAB_RUNTIME_STUBS=ON, the binary) link before the runtime exists. A real definition in the
 * library always wins. ab_run reports a runtime error; the test of the CLI never runs a script.
 */
#include <stdlib.h>
#include <string.h>

#include "agent_block.h"
#include "core/common.h"

__attribute__((weak)) void ab_config_init(ab_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->project_root = ".";
    cfg->mcp_rpc_timeout_secs = 30;
    cfg->workers = 1;
    cfg->load_dotenv = 1;
}

__attribute__((weak)) ab_run_status ab_run(const ab_config *cfg, char **errmsg)
{
    (void)cfg;
    if (errmsg)
        *errmsg = ab_xstrdup("runtime error: the runtime is not part of this build");
    return AB_RUN_RUNTIME_ERROR;
}

struct ab_cancel_token {
    int fired;
};

__attribute__((weak)) ab_cancel_token *ab_cancel_token_new(void)
{
    return ab_xcalloc(1, sizeof(ab_cancel_token));
}

__attribute__((weak)) void ab_cancel_token_cancel(ab_cancel_token *tok)
{
    tok->fired = 1;
}

__attribute__((weak)) int ab_cancel_token_is_cancelled(const ab_cancel_token *tok)
{
    return tok->fired;
}

__attribute__((weak)) void ab_cancel_token_free(ab_cancel_token *tok)
{
    free(tok);
}
