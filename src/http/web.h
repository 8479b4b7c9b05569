/* The agent's page: the files of web/ are compiled into the binary (the build turns them
 * into web_assets.c with cmake/web_assets.cmake), so `crmlog serve` needs nothing on disk.
 * Internal to src/http. */
#ifndef CRMLOG_HTTP_WEB_H
#define CRMLOG_HTTP_WEB_H

#include <stddef.h>

struct web_asset {
    const char *path; /* "/index.html", "/app.js", … */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
};

extern const struct web_asset web_assets[];
extern const size_t web_nassets;

#endif
