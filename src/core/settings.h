/* A user's settings: one table of keys (name, kind, default, help) from which validation,
 * `crmlog settings` and the API are all derived. Values are kept as text in the store. */
#ifndef CRMLOG_SETTINGS_H
#define CRMLOG_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "../store/store.h"
#include "phone.h"

enum setting_kind { SETTING_BOOL, SETTING_MASKS, SETTING_REGION };

struct setting_def {
    const char *key;
    enum setting_kind kind;
    const char *def;
    const char *help;
};

struct settings {
    int auto_log;           /* log ended calls and SMS without a person */
    int auto_log_form_only; /* with auto_log: prepare the log, wait for the person */
    size_t nformats;
    char formats[PHONE_MASKS_MAX][PHONE_MASK_LEN];
    char region[3];
};

#define SETTING_VALUE_LEN 160

extern const struct setting_def settings_defs[];
extern const size_t settings_ndefs;

/* The effective settings of a user (stored values over defaults). */
int settings_load(store *s, int64_t user, struct settings *out, char *err);
/* The effective value of one key as text, into out (SETTING_VALUE_LEN bytes). */
int settings_get(store *s, int64_t user, const char *key, char *out, char *err);
/* Validates and saves one key; ERR_INVAL (nothing saved) for an unknown key or bad value.
 * Values are normalized: booleans to on|off, regions to upper case, masks trimmed. */
int settings_set(store *s, int64_t user, const char *key, const char *value, char *err);

#endif
