/* The auto-logger. One pass takes every ended, unlogged call and SMS of a user (however
 * many arrived while no pass ran: that is the catch-up), logs what has no conflict, queues
 * conflicts as unresolved with their reason and candidates, and with "only open the log
 * form" on leaves calls in review for a person. CRM failures leave the call claimed for a
 * while, then it is retried: nothing is dropped. */
#ifndef CRMLOG_WORKER_H
#define CRMLOG_WORKER_H

#include <stddef.h>

#include "logger.h"

#define WORKER_BATCH 256            /* calls claimed and written per transaction */
#define WORKER_RETRY_MS (60 * 1000) /* a call whose CRM write failed is retried after this */

struct worker_counts {
    size_t logged;
    size_t unresolved;
    size_t review;
    size_t failed; /* CRM errors this pass; those calls are retried later */
};

/* One pass for lg's user. Does nothing (zero counts) when auto_log is off. */
int worker_pass(struct logger *lg, struct worker_counts *counts, char *err);

#endif
