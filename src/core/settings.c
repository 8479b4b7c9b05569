#include "settings.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

const struct setting_def settings_defs[] = {
    {"auto_log", SETTING_BOOL, "off", "log ended calls and SMS automatically (on|off)"},
    {"auto_log_form_only", SETTING_BOOL, "off",
     "with auto_log on, only prepare the log form and wait for you (on|off)"},
    {"phone_formats", SETTING_MASKS, "",
     "up to 3 comma-separated number formats like (***) ***-****, tried against CRMs whose "
     "phone search is exact-string"},
    {"region", SETTING_REGION, "US", "ISO country code for numbers written without +"},
};
const size_t settings_ndefs = sizeof settings_defs / sizeof *settings_defs;

static const struct setting_def *find_def(const char *key)
{
    for (size_t i = 0; i < settings_ndefs; i++)
        if (strcmp(settings_defs[i].key, key) == 0) return &settings_defs[i];
    return NULL;
}

/* Splits "a, b,c" into trimmed masks; validates each. */
static int parse_masks(const char *value, struct settings *out, char *err)
{
    out->nformats = 0;
    const char *p = value;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && isspace((unsigned char)*p))
            p++, len--;
        while (len && isspace((unsigned char)p[len - 1]))
            len--;
        if (len == 0) return err_set(err, ERR_INVAL, "phone_formats: empty format in '%s'", value);
        if (out->nformats == PHONE_MASKS_MAX)
            return err_set(err, ERR_INVAL, "phone_formats: at most %d formats", PHONE_MASKS_MAX);
        if (len >= PHONE_MASK_LEN)
            return err_set(err, ERR_INVAL, "phone_formats: a format is longer than %d characters",
                           PHONE_MASK_LEN - 1);
        char *m = out->formats[out->nformats];
        memcpy(m, p, len);
        m[len] = '\0';
        if (phone_mask_valid(m, err)) return ERR_INVAL;
        out->nformats++;
        if (!end) break;
        p = end + 1;
        if (!*p) return err_set(err, ERR_INVAL, "phone_formats: empty format after ','");
    }
    return 0;
}

/* Checks value for def and writes its normalized text into norm (SETTING_VALUE_LEN bytes),
 * applying it to out when out is non-NULL. */
static int apply(const struct setting_def *def, const char *value, struct settings *out, char *norm,
                 char *err)
{
    struct settings tmp;
    if (!out) out = &tmp;
    if (strlen(value) >= SETTING_VALUE_LEN)
        return err_set(err, ERR_INVAL, "%s: value is too long", def->key);
    switch (def->kind) {
    case SETTING_BOOL: {
        int on = strcmp(value, "on") == 0;
        if (!on && strcmp(value, "off") != 0)
            return err_set(err, ERR_INVAL, "%s must be on or off, not '%s'", def->key, value);
        if (strcmp(def->key, "auto_log") == 0)
            out->auto_log = on;
        else
            out->auto_log_form_only = on;
        snprintf(norm, SETTING_VALUE_LEN, "%s", on ? "on" : "off");
        return 0;
    }
    case SETTING_MASKS: {
        if (parse_masks(value, out, err)) return ERR_INVAL;
        norm[0] = '\0';
        size_t used = 0;
        for (size_t i = 0; i < out->nformats; i++)
            used += (size_t)snprintf(norm + used, SETTING_VALUE_LEN - used, "%s%s", i ? "," : "",
                                     out->formats[i]);
        return 0;
    }
    case SETTING_REGION: {
        char r[3] = {0};
        if (strlen(value) == 2) {
            r[0] = (char)toupper((unsigned char)value[0]);
            r[1] = (char)toupper((unsigned char)value[1]);
        }
        if (!phone_region_valid(r))
            return err_set(err, ERR_INVAL,
                           "region must be an ISO country code like US or GB, not '%s'", value);
        memcpy(out->region, r, sizeof r);
        snprintf(norm, SETTING_VALUE_LEN, "%s", r);
        return 0;
    }
    }
    return err_set(err, ERR_INVAL, "unknown setting kind");
}

int settings_get(store *s, int64_t user, const char *key, char *out, char *err)
{
    const struct setting_def *def = find_def(key);
    if (!def) return err_set(err, ERR_INVAL, "unknown setting '%s'", key);
    int rc = store_setting_get(s, user, key, out, SETTING_VALUE_LEN, err);
    if (rc == ERR_NOTFOUND) {
        snprintf(out, SETTING_VALUE_LEN, "%s", def->def);
        return 0;
    }
    return rc;
}

int settings_load(store *s, int64_t user, struct settings *out, char *err)
{
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < settings_ndefs; i++) {
        char val[SETTING_VALUE_LEN], norm[SETTING_VALUE_LEN];
        int rc = settings_get(s, user, settings_defs[i].key, val, err);
        if (rc) return rc;
        /* A value stored by an older version that no longer validates falls back to the
         * default rather than stopping every command. */
        if (apply(&settings_defs[i], val, out, norm, NULL))
            apply(&settings_defs[i], settings_defs[i].def, out, norm, NULL);
    }
    return 0;
}

int settings_set(store *s, int64_t user, const char *key, const char *value, char *err)
{
    const struct setting_def *def = find_def(key);
    if (!def) {
        char known[256];
        size_t used = 0;
        for (size_t i = 0; i < settings_ndefs; i++)
            used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "",
                                     settings_defs[i].key);
        return err_set(err, ERR_INVAL, "unknown setting '%s' (known: %s)", key, known);
    }
    char norm[SETTING_VALUE_LEN];
    if (apply(def, value, NULL, norm, err)) return ERR_INVAL;
    return store_setting_set(s, user, key, norm, err);
}
