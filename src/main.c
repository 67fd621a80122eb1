/* main.c - the agent-block command line (placeholder until the CLI lands). */
#include <stdio.h>

#include "agent_block.h"

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    puts(ab_version_string());
    return 0;
}
