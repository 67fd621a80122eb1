/* host.c - placeholder: run boot and shutdown land with the runtime. */
#include "agent_block.h"

const char *ab_version_string(void)
{
    return "agent-block " AB_VERSION " (upstream " AB_UPSTREAM_VERSION ")";
}
