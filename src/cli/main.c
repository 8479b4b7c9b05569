#include <malloc.h>
#include <sqlite3.h>

#include "cli/cli.h"

int main(int argc, char **argv)
{
    /* SQLite's memory statistics take a process-wide mutex on every allocation, which the
     * server's threads would contend for; crmlog never reads them. Before any other call. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    /* glibc gives a thread's free heap top back to the kernel as soon as it passes 128 kB,
     * and maps blocks from 128 kB on afresh each time: with SQLite's statement journals
     * freed and allocated again on every write, the server spent its time in page faults
     * and TLB flushes. Memory freed stays for reuse up to these sizes. */
    mallopt(M_TRIM_THRESHOLD, 2 << 20);
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    return cli_main(argc, argv);
}
