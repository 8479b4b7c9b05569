#include <sqlite3.h>

#include "cli/cli.h"

int main(int argc, char **argv)
{
    /* SQLite's memory statistics take a process-wide mutex on every allocation, which the
     * server's threads would contend for; crmlog never reads them. Before any other call. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return cli_main(argc, argv);
}
