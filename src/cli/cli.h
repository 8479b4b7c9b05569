/* The command line: `crmlog [--db PATH] [--user NAME] COMMAND …`. Every command has
 * --help; most have --json for scripts. Exit codes are the table below. */
#ifndef CRMLOG_CLI_H
#define CRMLOG_CLI_H

enum cli_exit {
    EXIT_OK = 0,
    EXIT_ERROR = 1,
    EXIT_USAGE = 2,
    EXIT_CHOICE = 3,  /* needs a person's choice (a conflict) */
    EXIT_ALREADY = 4, /* already logged */
};

/* Runs one command line; returns the process exit code. Output on stdout, one-line errors
 * on stderr. */
int cli_main(int argc, char **argv);

/* Demo data for a new store: RingCentral-shaped call-log and message-store records, as
 * JSON Lines text built around now_ms (mem_free it). */
char *demo_records(long long now_ms);

#endif
