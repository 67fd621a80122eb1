/*
 * bench_forkexec.c - the peer of the sh.exec benchmark (bench/io.sh): a plain C loop that runs
 * `/bin/sh -c <cmd>` with fork + execv + waitpid, one at a time (the same child sh.exec
 * starts, without pipes or an event loop). Prints "<runs per second>".
 * Usage: bench_forkexec SECONDS [CMD]   (CMD defaults to /bin/true)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    char *cmd = argc > 2 ? argv[2] : "/bin/true";
    char *args[] = {"sh", "-c", cmd, NULL};
    double t0 = now(), t;
    long n = 0;
    do {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            execv("/bin/sh", args);
            _exit(127);
        }
        int st;
        if (waitpid(pid, &st, 0) < 0) {
            perror("waitpid");
            return 1;
        }
        n++;
        t = now();
    } while (t - t0 < secs);
    printf("%.1f\n", (double)n / (t - t0));
    return 0;
}
