/* `crmlog serve`: the HTTP server (libmicrohttpd, a thread pool on epoll) with the JSON API
 * v1 (docs/api.md), /healthz and /metrics, and the worker thread that logs queued and
 * ended calls into the CRM. */
#ifndef CRMLOG_HTTP_SERVER_H
#define CRMLOG_HTTP_SERVER_H

#include "../core/config.h"

/* Runs the server until SIGTERM/SIGINT; returns 0 after a clean shutdown. Prints
 * "crmlog serving on http://ADDR:PORT" (the real port when cfg->listen asked for port 0)
 * as one line on stdout, flushed, once it accepts connections. On failure to start
 * (store, address, MHD) returns a negative ERR_* code with one line in err (ERR_LEN bytes).
 * cfg is borrowed for the whole run. Blocks SIGTERM and SIGINT while it runs (the caller's
 * signal mask is restored before it returns); call it from the main thread before any
 * other thread is started. One server per process at a time. */
int server_run(const struct config *cfg, char *err);

#endif
