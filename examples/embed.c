/* embed.c - placeholder for the embedding example. */
#include <stdio.h>

#include "agent_block.h"

int main(void)
{
    puts(ab_version_string());
    return 0;
}
