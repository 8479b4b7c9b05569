/* The generic part of the CRM interface: the table of known connectors, opening one by
 * name, and the checks on declared log-form fields that every connector shares. */
#include "crm.h"

#include "../core/mem.h"

#include <stdio.h>
#include <string.h>

#include "../core/err.h"

/* Every connector crmlog knows, by name. New connectors (CardDAV, HubSpot, Pipedrive…)
 * add one line here. */
static const struct crm_ops *const crm_connectors[] = {
    &crm_local,
};

#define CRM_NCONNECTORS (sizeof crm_connectors / sizeof crm_connectors[0])

const struct crm_ops *crm_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < CRM_NCONNECTORS; i++)
        if (strcmp(crm_connectors[i]->name, name) == 0) return crm_connectors[i];
    return NULL;
}

/* "local, carddav, …" into out, for messages that list the known connectors. */
static void crm_names(char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < CRM_NCONNECTORS && used < len; i++) {
        int n = snprintf(out + used, len - used, "%s%s", i ? ", " : "", crm_connectors[i]->name);
        if (n < 0) break;
        used += (size_t)n;
    }
}

/* On success *out is a handle the caller closes with crm_close; on error *out is NULL and
 * nothing needs closing. st: open in that store where the connector can (NULL: never). */
static int open_connector(const char *name, const char *config, store *st, crm **out, char *err)
{
    *out = NULL;
    const struct crm_ops *ops = crm_find(name);
    if (!ops) {
        char names[128];
        crm_names(names, sizeof names);
        return err_set(err, ERR_INVAL, "unknown CRM connector '%.64s' (known: %s)",
                       name ? name : "", names);
    }
    crm *c = NULL;
    int rc = st && ops->open_in_store ? ops->open_in_store(&c, st, config ? config : "", err)
                                      : ops->open(&c, config ? config : "", err);
    if (rc) {
        /* A connector that failed owns nothing the caller must free. */
        return rc;
    }
    if (!c->ops) c->ops = ops;
    *out = c;
    return 0;
}

int crm_open(const char *name, const char *config, crm **out, char *err)
{
    return open_connector(name, config, NULL, out, err);
}

int crm_open_in_store(const char *name, const char *config, store *st, crm **out, char *err)
{
    return open_connector(name, config, st, out, err);
}

void crm_close(crm *c)
{
    if (!c) return;
    mem_free(c->memo);
    c->ops->close(c);
}

const struct crm_field *crm_field_find(const crm *c, const char *name)
{
    if (!c || !name) return NULL;
    const struct crm_ops *ops = c->ops;
    for (size_t i = 0; i < ops->nfields; i++)
        if (strcmp(ops->fields[i].name, name) == 0) return &ops->fields[i];
    return NULL;
}

/* Only the value's shape is checked here: whether a required field is present is the
 * logger's business, since it alone sees the whole form. */
int crm_field_check(const struct crm_field *f, const char *value, char *err)
{
    if (!f) return err_set(err, ERR_INVAL, "no such log field");
    if (!value) return err_set(err, ERR_INVAL, "field '%s' has no value", f->name);
    if (!f->choices) return 0;
    for (const char *const *ch = f->choices; *ch; ch++)
        if (strcmp(*ch, value) == 0) return 0;

    /* "disposition must be one of 'a', 'b' (got 'x')", truncated to fit ERR_LEN. */
    char allowed[ERR_LEN];
    size_t used = 0;
    allowed[0] = '\0';
    for (const char *const *ch = f->choices; *ch && used < sizeof allowed; ch++) {
        int n = snprintf(allowed + used, sizeof allowed - used, "%s'%s'",
                         ch == f->choices ? "" : ", ", *ch);
        if (n < 0) break;
        used += (size_t)n;
    }
    return err_set(err, ERR_INVAL, "%s must be one of %s (got '%.64s')", f->name, allowed, value);
}
