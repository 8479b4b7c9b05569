/* The server's configuration: one table of keys (name, type, default, bounds, env var, help)
 * from which the flags of `crmlog serve`, the config file, `--help` and `crmlog config show`
 * are all derived (STYLE habit 10, after redis's static_configs[]).
 *
 * Precedence, lowest to highest: defaults, the config file, the environment, flags.
 * Every function that changes a struct config is atomic: it works on a copy and, on any
 * error, leaves the caller's struct exactly as it was. Nothing here allocates memory that
 * outlives a call, and nothing keeps a pointer to its arguments. */
#ifndef CRMLOG_CONFIG_H
#define CRMLOG_CONFIG_H

#include <stddef.h>
#include <stdio.h>

enum config_type {
    CONFIG_STRING, /* char[size]; min..max bound the length in bytes */
    CONFIG_INT,    /* int; min..max bound the value */
    CONFIG_BOOL,   /* int 0|1; written on|off (also accepted: true|false, yes|no, 1|0) */
};

struct config_def {
    const char *name; /* file key; the flag is --name with '_' written as '-' */
    enum config_type type;
    const char *def; /* default, as text, valid by the rules below */
    long long min, max;
    const char *env;  /* environment variable, or NULL */
    const char *help; /* one line, for --help, config show and the example file */
    size_t offset;    /* of the field in struct config */
    size_t size;      /* of that field */
    /* Optional: a '|'-separated list of the only accepted values; a check of the value's
     * syntax that writes one line starting with label into err (ERR_LEN) and returns
     * ERR_INVAL; the placeholder of the flag's value in --help (default from the type). */
    const char *choices;
    int (*check)(const char *label, const char *value, char *err);
    const char *metavar;
};

struct config {
    char db[1024];           /* store URL or path */
    char listen[128];        /* ADDR:PORT; port 0 = any free port */
    int threads;             /* HTTP worker threads */
    int autolog_interval_ms; /* how often the auto-logger looks for ended calls */
    int recording_wait_s;    /* how long an ended call waits for its announced recording */
    int retry_initial_ms;    /* first retry delay after a CRM failure */
    int retry_max_ms;        /* retry backoff cap */
    int body_limit;          /* max request body bytes */
    int import_body_limit;   /* max request body bytes of an import */
    int header_timeout_s;    /* connection timeout (idle, headers) */
    int per_ip_limit;        /* max concurrent connections per client IP */
    int conn_limit;          /* max concurrent connections */
    char log_level[16];      /* error|warn|info|debug */
    int shutdown_grace_s;    /* on SIGTERM, how long in-flight work may take */
};

extern const struct config_def config_defs[];
extern const size_t config_ndefs;

/* The environment variable that names a config file when --config is not given. */
#define CONFIG_ENV_FILE "CRMLOG_CONFIG"

/* Sets every field to its default. */
void config_defaults(struct config *c);

/* The def of a file key (underscores), or NULL. */
const struct config_def *config_find(const char *name);

/* Reads `name = value` lines; blank lines and lines starting with '#' are skipped, and a '#'
 * after whitespace starts a comment. A value is everything after the first '=', trimmed;
 * "double quotes" keep spaces and '#' (with \" and \\ inside). An unknown name, a bad value,
 * a duplicate name or a line without '=' gives ERR_INVAL "PATH:LINE: …"; an unreadable file
 * ERR_IO. Checks each value, not the rules between keys (see config_check). */
int config_load_file(struct config *c, const char *path, char *err);

/* Applies each def's environment variable that is set and not empty; ERR_INVAL names the
 * variable on a bad value. */
int config_load_env(struct config *c, char *err);

/* Sets one value by file key, validated (type, bounds, choices, syntax); ERR_INVAL. */
int config_set(struct config *c, const char *name, const char *value, char *err);

/* The rules between keys (retry_initial_ms <= retry_max_ms, body_limit <=
 * import_body_limit); ERR_INVAL. config_parse_args runs it on the final result. */
int config_check(const struct config *c, char *err);

/* Starting from c as given (normally config_defaults), loads the file named by --config PATH
 * (wherever it is on the command line) or else $CRMLOG_CONFIG, then the environment, then
 * applies `--name VALUE` / `--name=VALUE` flags in order (the last of a repeated flag wins),
 * then config_check. argv[0] is the command name; options and operands may be mixed (GNU
 * getopt_long permutes argv) and `--` ends options. Returns the index of the first operand,
 * or ERR_USAGE (unknown option, missing value), ERR_INVAL (bad value) or ERR_IO (file) with
 * err set. --help is not handled here: callers check for it first. */
int config_parse_args(struct config *c, int argc, char **argv, char *err);

/* Writes `name = value  # help (…, env VAR, default D)` for every def, which
 * config_load_file reads back to the same struct; with json, one JSON object (ints as
 * numbers, booleans as true/false) on one line. Write errors show in ferror(out). */
void config_print(const struct config *c, FILE *out, int json);

/* Help for every flag, derived from the table (for `crmlog serve --help`). */
void config_print_help(FILE *out);

#endif
