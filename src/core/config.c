/* The server's configuration table and everything derived from it: the config file reader,
 * the environment, the flags (the getopt_long array is built from the table), --help and
 * `config show`. Adding a key is one row in config_defs[] and one field in struct config. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

static int check_listen(const char *label, const char *value, char *err);

/* One row per key, redis-style: the field name is the key, and an int's default is written
 * once as a number. Strings' min..max bound their length; the field's size caps max. */
#define FIELD(f) .offset = offsetof(struct config, f), .size = sizeof(((struct config *)0)->f)
#define CFG_INT(f, dflt, lo, hi, env_, help_)                                                      \
    {                                                                                              \
        .name = #f, .type = CONFIG_INT, .def = #dflt, .min = lo, .max = hi, .env = env_,           \
        .help = help_, FIELD(f)                                                                    \
    }
#define CFG_STR(f, dflt, env_, metavar_, choices_, check_, help_)                                  \
    {                                                                                              \
        .name = #f, .type = CONFIG_STRING, .def = dflt, .min = 1,                                  \
        .max = (long long)sizeof(((struct config *)0)->f) - 1, .env = env_, .help = help_,         \
        FIELD(f), .metavar = metavar_, .choices = choices_, .check = check_                        \
    }

const struct config_def config_defs[] = {
    CFG_STR(db, "crmlog.db", "CRMLOG_DB", "URL", NULL, NULL,
            "the store: a file path or sqlite:PATH, or a postgres:// URL for a shared store"),
    CFG_STR(listen, "127.0.0.1:8080", "CRMLOG_LISTEN", "ADDR:PORT", NULL, check_listen,
            "where to serve HTTP: IPv4, [IPv6] or localhost, then :PORT; port 0 picks a free one"),
    CFG_INT(threads, 2, 1, 64, "CRMLOG_THREADS", "HTTP worker threads"),
    CFG_INT(autolog_interval_ms, 250, 50, 60000, "CRMLOG_AUTOLOG_INTERVAL_MS",
            "how often the auto-logger looks for ended calls, in milliseconds"),
    CFG_INT(recording_wait_s, 30, 0, 3600, "CRMLOG_RECORDING_WAIT_S",
            "how long an ended call whose recording is announced waits for its link, in seconds"),
    CFG_INT(retry_initial_ms, 1000, 100, 3600000, "CRMLOG_RETRY_INITIAL_MS",
            "first retry delay after a CRM failure, in milliseconds; at most retry_max_ms"),
    CFG_INT(retry_max_ms, 300000, 1000, 86400000, "CRMLOG_RETRY_MAX_MS",
            "longest retry delay after repeated CRM failures, in milliseconds"),
    CFG_INT(body_limit, 1048576, 1024, 1073741824, "CRMLOG_BODY_LIMIT",
            "largest request body in bytes, except imports: see import_body_limit"),
    CFG_INT(import_body_limit, 67108864, 1024, 1073741824, "CRMLOG_IMPORT_BODY_LIMIT",
            "largest import request body, in bytes; at least body_limit"),
    CFG_INT(header_timeout_s, 30, 1, 3600, "CRMLOG_HEADER_TIMEOUT_S",
            "seconds a connection may stay idle or take to send its headers"),
    CFG_INT(per_ip_limit, 64, 1, 100000, "CRMLOG_PER_IP_LIMIT",
            "most concurrent connections from one client IP"),
    CFG_INT(conn_limit, 1024, 1, 100000, "CRMLOG_CONN_LIMIT", "most concurrent connections"),
    CFG_STR(log_level, "info", "CRMLOG_LOG_LEVEL", NULL, "error|warn|info|debug", NULL,
            "least severe messages logged"),
    CFG_INT(shutdown_grace_s, 10, 1, 600, "CRMLOG_SHUTDOWN_GRACE_S",
            "on SIGTERM, seconds in-flight requests and CRM writes may take before exit"),
};
#define NDEFS (sizeof config_defs / sizeof *config_defs)
const size_t config_ndefs = NDEFS;

#define NAME_MAX_ 48    /* longest key + "--" + NUL */
#define LINE_MAX_ 4096  /* longest config file line */
#define OPT_BASE 0x1000 /* getopt_long val of def i is OPT_BASE + i; --config is after them */
#define CUT "%.80s"     /* values echoed in errors are cut: a 1000-byte path helps nobody */

const struct config_def *config_find(const char *name)
{
    for (size_t i = 0; i < NDEFS; i++)
        if (strcmp(config_defs[i].name, name) == 0) return &config_defs[i];
    return NULL;
}

/* ---------- values ---------- */

/* Decimal, optional '-', nothing else: no spaces, '+', hex or trailing text. */
static int parse_ll(const char *s, long long *out)
{
    const char *d = s[0] == '-' ? s + 1 : s;
    if (*d < '0' || *d > '9') return -1;
    char *end;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (*end != '\0') return -1;
    if (errno == ERANGE) n = s[0] == '-' ? LLONG_MIN : LLONG_MAX; /* out of every bound */
    *out = n;
    return 0;
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"on", "true", "yes", "1"}, *const no[] = {"off", "false",
                                                                                "no", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
        if (strcmp(s, yes[i]) == 0) return *out = 1, 0;
        if (strcmp(s, no[i]) == 0) return *out = 0, 0;
    }
    return -1;
}

static int in_choices(const char *choices, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = choices;;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && memcmp(p, v, n) == 0) return 1;
        if (!bar) return 0;
        p = bar + 1;
    }
}

/* Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF), so every value
 * can be shown as JSON. */
static int utf8_ok(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        if (*s < 0x80) {
            s++;
            continue;
        }
        int n = (*s & 0xe0) == 0xc0 ? 1 : (*s & 0xf0) == 0xe0 ? 2 : (*s & 0xf8) == 0xf0 ? 3 : 0;
        if (!n || *s < 0xc2 || *s > 0xf4) return 0;
        for (int i = 1; i <= n; i++)
            if ((s[i] & 0xc0) != 0x80) return 0;
        if ((*s == 0xe0 && s[1] < 0xa0) || (*s == 0xed && s[1] > 0x9f) ||
            (*s == 0xf0 && s[1] < 0x90) || (*s == 0xf4 && s[1] > 0x8f))
            return 0;
        s += n + 1;
    }
    return 1;
}

/* ADDR:PORT with ADDR an IPv4 address, a bracketed IPv6 address or localhost. */
static int check_listen(const char *label, const char *v, char *err)
{
    const char *host = v, *host_end, *port;
    if (v[0] == '[') {
        host = v + 1;
        host_end = strchr(host, ']');
        if (!host_end || host_end[1] != ':')
            return err_set(err, ERR_INVAL, "%s must be [IPv6]:PORT like [::1]:8080, not '" CUT "'",
                           label, v);
        port = host_end + 2;
    } else {
        host_end = strrchr(v, ':');
        if (!host_end)
            return err_set(err, ERR_INVAL,
                           "%s must be ADDR:PORT like 127.0.0.1:8080, not '" CUT "' (no port)",
                           label, v);
        if (memchr(v, ':', (size_t)(host_end - v)))
            return err_set(err, ERR_INVAL,
                           "%s: an IPv6 address goes in brackets, like [::1]:8080, not '" CUT "'",
                           label, v);
        port = host_end + 1;
    }
    char addr[64];
    size_t len = (size_t)(host_end - host);
    unsigned char bin[16];
    int ok = len < sizeof addr;
    if (ok) {
        memcpy(addr, host, len);
        addr[len] = '\0';
        if (host != v)
            ok = inet_pton(AF_INET6, addr, bin) == 1;
        else
            ok = strcmp(addr, "localhost") == 0 || inet_pton(AF_INET, addr, bin) == 1;
    }
    if (!ok)
        return err_set(err, ERR_INVAL,
                       "%s: '" CUT "' is not an IPv4 address, [IPv6] address or localhost", label,
                       host != v ? v : (len < sizeof addr ? addr : v));
    long long p;
    if (strlen(port) > 5 || port[0] == '-' || parse_ll(port, &p) || p > 65535)
        return err_set(err, ERR_INVAL, "%s: the port must be 0..65535, not '" CUT "'", label, port);
    return 0;
}

/* Validates value for d and, when it is good, stores it in c. label names the value's origin
 * in the message: the key, the environment variable or the flag. */
static int apply(const struct config_def *d, struct config *c, const char *value, const char *label,
                 char *err)
{
    void *field = (char *)c + d->offset;
    switch (d->type) {
    case CONFIG_STRING: {
        size_t len = strlen(value);
        if ((long long)len < d->min)
            return d->min == 1 ? err_set(err, ERR_INVAL, "%s must not be empty", label)
                               : err_set(err, ERR_INVAL, "%s must be at least %lld bytes long",
                                         label, d->min);
        if ((long long)len > d->max || len >= d->size)
            return err_set(err, ERR_INVAL, "%s must be at most %lld bytes long, not %zu", label,
                           d->max, len);
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
                return err_set(err, ERR_INVAL, "%s must not contain control characters", label);
        if (!utf8_ok(value)) return err_set(err, ERR_INVAL, "%s must be valid UTF-8", label);
        if (d->choices && !in_choices(d->choices, value))
            return err_set(err, ERR_INVAL, "%s must be one of %s, not '" CUT "'", label, d->choices,
                           value);
        if (d->check && d->check(label, value, err)) return ERR_INVAL;
        memcpy(field, value, len + 1);
        return 0;
    }
    case CONFIG_INT: {
        long long n;
        if (parse_ll(value, &n))
            return err_set(err, ERR_INVAL, "%s must be a whole number, not '" CUT "'", label,
                           value);
        if (n < d->min || n > d->max)
            return err_set(err, ERR_INVAL, "%s must be between %lld and %lld, not '" CUT "'", label,
                           d->min, d->max, value);
        int v = (int)n;
        if (d->size != sizeof v) return err_set(err, ERR_INVAL, "%s: bad field size", label);
        memcpy(field, &v, sizeof v);
        return 0;
    }
    case CONFIG_BOOL: {
        int v;
        if (parse_bool(value, &v))
            return err_set(err, ERR_INVAL, "%s must be on or off, not '" CUT "'", label, value);
        if (d->size != sizeof v) return err_set(err, ERR_INVAL, "%s: bad field size", label);
        memcpy(field, &v, sizeof v);
        return 0;
    }
    }
    return err_set(err, ERR_INVAL, "%s: unknown type", label);
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof *c);
    /* The defaults are checked by the tests, so this cannot fail. */
    for (size_t i = 0; i < NDEFS; i++)
        apply(&config_defs[i], c, config_defs[i].def, config_defs[i].name, NULL);
}

int config_set(struct config *c, const char *name, const char *value, char *err)
{
    const struct config_def *d = config_find(name);
    if (!d) return err_set(err, ERR_INVAL, "unknown key '" CUT "'", name);
    /* apply stores only after every check passed, so c needs no copy here. */
    return apply(d, c, value, d->name, err);
}

int config_check(const struct config *c, char *err)
{
    if (c->retry_initial_ms > c->retry_max_ms)
        return err_set(err, ERR_INVAL, "retry_initial_ms (%d) must not be above retry_max_ms (%d)",
                       c->retry_initial_ms, c->retry_max_ms);
    if (c->body_limit > c->import_body_limit)
        return err_set(err, ERR_INVAL, "body_limit (%d) must not be above import_body_limit (%d)",
                       c->body_limit, c->import_body_limit);
    return 0;
}

/* ---------- the config file ---------- */

static int is_space(int ch)
{
    return ch == ' ' || ch == '\t';
}

/* One line without its end (\n or \r\n) into line (LINE_MAX_ bytes). Returns 1 for a line,
 * 0 at the end of the file, or a negative ERR_* with err set. */
static int read_line(FILE *f, const char *path, int lineno, char *line, char *err)
{
    size_t n = 0;
    int ch;
    while ((ch = getc(f)) != EOF && ch != '\n') {
        if (ch == '\0') return err_set(err, ERR_INVAL, "%s:%d: NUL byte", path, lineno);
        if (n == LINE_MAX_ - 1)
            return err_set(err, ERR_INVAL, "%s:%d: line longer than %d bytes", path, lineno,
                           LINE_MAX_ - 1);
        line[n++] = (char)ch;
    }
    if (ferror(f)) return err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
    if (ch == EOF && n == 0) return 0;
    if (n && line[n - 1] == '\r') n--;
    line[n] = '\0';
    return 1;
}

/* Splits a line into key and value, in place. Returns 1 for a setting, 0 for a blank or
 * comment line, or ERR_INVAL with the reason (no location) in msg. */
static int split_line(char *line, char **key, char **value, char *msg)
{
    char *p = line;
    while (is_space(*p))
        p++;
    if (*p == '\0' || *p == '#') return 0;
    char *eq = strchr(p, '=');
    if (!eq) return err_set(msg, ERR_INVAL, "expected name = value");
    char *k_end = eq;
    while (k_end > p && is_space(k_end[-1]))
        k_end--;
    if (k_end == p) return err_set(msg, ERR_INVAL, "expected name = value (no name)");
    *k_end = '\0';
    *key = p;

    char *v = eq + 1;
    while (is_space(*v))
        v++;
    if (*v == '"') {
        /* Quoted: \" and \\ are the only escapes; unquote in place. */
        char *r = v + 1, *w = v;
        for (; *r && *r != '"'; r++) {
            if (*r == '\\' && (r[1] == '"' || r[1] == '\\')) r++;
            *w++ = *r;
        }
        if (*r != '"') return err_set(msg, ERR_INVAL, "no closing quote");
        *w = '\0';
        for (r++; is_space(*r); r++)
            ;
        if (*r && *r != '#') return err_set(msg, ERR_INVAL, "text after the closing quote");
        *value = v;
        return 1;
    }
    /* Unquoted: a '#' after whitespace starts a comment; a '#' inside a word (a URL
     * fragment, a path) is kept. */
    char *end = v;
    for (char *s = v; *s; s++) {
        if (*s == '#' && (s > v ? is_space(s[-1]) : v > eq + 1)) break;
        if (!is_space(*s)) end = s + 1;
    }
    *end = '\0';
    *value = v;
    return 1;
}

int config_load_file(struct config *c, const char *path, char *err)
{
    FILE *f = fopen(path, "r");
    if (!f) return err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
    struct config tmp = *c;
    int seen[NDEFS] = {0}; /* line of each key, 0 while unseen */
    char line[LINE_MAX_], msg[ERR_LEN];
    int rc = 0, lineno = 0;
    while (!rc) {
        rc = read_line(f, path, ++lineno, line, err);
        if (rc <= 0) break;
        rc = 0;
        char *key = NULL, *value = NULL, *p = line;
        if (lineno == 1 && strncmp(p, "\xef\xbb\xbf", 3) == 0) p += 3; /* a UTF-8 BOM */
        int got = split_line(p, &key, &value, msg);
        if (got < 0) {
            rc = err_set(err, ERR_INVAL, "%s:%d: %s", path, lineno, msg);
        } else if (got) {
            const struct config_def *d = config_find(key);
            if (!d) {
                /* `recording-wait-s` is the flag's spelling: point to the key's. */
                char alt[NAME_MAX_];
                const struct config_def *a = NULL;
                size_t klen = strlen(key);
                if (klen < sizeof alt) {
                    memcpy(alt, key, klen + 1);
                    for (char *s = alt; *s; s++)
                        if (*s == '-') *s = '_';
                    a = config_find(alt);
                }
                rc = err_set(err, ERR_INVAL, "%s:%d: unknown key '" CUT "'%s%s%s", path, lineno,
                             key, a ? " (did you mean " : "", a ? a->name : "", a ? "?)" : "");
            } else if (seen[d - config_defs]) {
                rc = err_set(err, ERR_INVAL, "%s:%d: %s is already set on line %d", path, lineno,
                             d->name, seen[d - config_defs]);
            } else if (apply(d, &tmp, value, d->name, msg)) {
                rc = err_set(err, ERR_INVAL, "%s:%d: %s", path, lineno, msg);
            } else {
                seen[d - config_defs] = lineno;
            }
        }
    }
    fclose(f);
    if (rc) return rc;
    *c = tmp;
    return 0;
}

/* ---------- the environment ---------- */

int config_load_env(struct config *c, char *err)
{
    struct config tmp = *c;
    for (size_t i = 0; i < NDEFS; i++) {
        const struct config_def *d = &config_defs[i];
        const char *v = d->env ? getenv(d->env) : NULL;
        /* Empty counts as unset, as for $CRMLOG_DB in the CLI: `VAR=` lines in an
         * EnvironmentFile then mean "not set here". */
        if (!v || !*v) continue;
        int rc = apply(d, &tmp, v, d->env, err);
        if (rc) return rc;
    }
    *c = tmp;
    return 0;
}

/* ---------- flags ---------- */

/* The option array, built from the table: def i is --name (with '-' for '_') and val
 * OPT_BASE + i; --config is OPT_BASE + NDEFS. names[i] holds "--name" for messages. */
static void build_options(struct option *opts, char (*names)[NAME_MAX_])
{
    for (size_t i = 0; i < NDEFS; i++) {
        snprintf(names[i], NAME_MAX_, "--%s", config_defs[i].name);
        for (char *s = names[i]; *s; s++)
            if (*s == '_') *s = '-';
        opts[i] = (struct option){names[i] + 2, required_argument, NULL, OPT_BASE + (int)i};
    }
    opts[NDEFS] = (struct option){"config", required_argument, NULL, OPT_BASE + (int)NDEFS};
    opts[NDEFS + 1] = (struct option){0};
}

/* One pass of getopt_long over argv. With c NULL it only checks the syntax and finds
 * --config; otherwise it applies every flag to c. Returns optind or a negative ERR_*. */
static int scan_flags(struct config *c, int argc, char **argv, const struct option *opts,
                      char (*names)[NAME_MAX_], const char **config_path, char *err)
{
    const char *cmd = argc > 0 && argv[0] ? argv[0] : "serve";
    optind = 0; /* glibc: 0 re-initializes the scanner for a new argv */
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        int i = opt - OPT_BASE;
        if (opt == '?' || opt == ':' || i < 0 || i > (int)NDEFS) {
            int j = optopt - OPT_BASE;
            if (j >= 0 && j <= (int)NDEFS)
                return err_set(err, ERR_USAGE, "--%s needs a value (see crmlog %s --help)",
                               opts[j].name, cmd);
            if (optopt)
                return err_set(err, ERR_USAGE, "unknown option -%c (see crmlog %s --help)", optopt,
                               cmd);
            const char *what = argv[optind - 1];
            int len = (int)strcspn(what, "=");
            return err_set(err, ERR_USAGE,
                           "unknown or ambiguous option '%.*s' (see crmlog %s --help)",
                           len > 80 ? 80 : len, what, cmd);
        }
        const char *flag = i == (int)NDEFS ? "--config" : names[i];
        /* getopt_long takes unambiguous abbreviations; a unit file that says --thread would
         * break the day a key --thread-… is added, so only whole names are accepted. */
        const char *used =
            optarg && optarg == argv[optind - 1] ? argv[optind - 2] : argv[optind - 1];
        size_t flen = strlen(flag);
        if (strncmp(used, flag, flen) != 0 || (used[flen] != '\0' && used[flen] != '='))
            return err_set(err, ERR_USAGE, "write the whole option name %s, not '%.*s'", flag,
                           (int)strcspn(used, "=") > 80 ? 80 : (int)strcspn(used, "="), used);
        /* `--db --listen X` would take "--listen" as the store: a separate value that looks
         * like a long option is a forgotten value. */
        if (optarg == argv[optind - 1] && strncmp(optarg, "--", 2) == 0)
            return err_set(err, ERR_USAGE,
                           "%s needs a value, not the option '" CUT "' (write %s=VALUE for a "
                           "value that starts with --)",
                           flag, optarg, flag);
        if (i == (int)NDEFS) {
            if (!*optarg) return err_set(err, ERR_USAGE, "--config needs a file name");
            *config_path = optarg;
        } else if (c) {
            int rc = apply(&config_defs[i], c, optarg, flag, err);
            if (rc) return rc;
        }
    }
    return optind;
}

int config_parse_args(struct config *c, int argc, char **argv, char *err)
{
    struct option opts[NDEFS + 2];
    char names[NDEFS][NAME_MAX_];
    build_options(opts, names);
    const char *path = NULL;
    int rc = scan_flags(NULL, argc, argv, opts, names, &path, err);
    if (rc < 0) return rc;
    if (!path) {
        path = getenv(CONFIG_ENV_FILE);
        if (path && !*path) path = NULL;
    }
    struct config tmp = *c;
    if (path && (rc = config_load_file(&tmp, path, err))) return rc;
    if ((rc = config_load_env(&tmp, err))) return rc;
    int first = scan_flags(&tmp, argc, argv, opts, names, &path, err);
    if (first < 0) return first;
    if ((rc = config_check(&tmp, err))) return rc;
    *c = tmp;
    return first;
}

/* ---------- output ---------- */

/* A value as the config file spells it: quoted when it would not read back as is. */
static void print_value(FILE *out, const struct config_def *d, const struct config *c)
{
    const void *field = (const char *)c + d->offset;
    int v;
    switch (d->type) {
    case CONFIG_STRING: {
        const char *s = field;
        size_t n = strlen(s);
        if (n && !strpbrk(s, "#\"") && !is_space(s[0]) && !is_space(s[n - 1])) {
            fputs(s, out);
            return;
        }
        fputc('"', out);
        for (; *s; s++) {
            if (*s == '"' || *s == '\\') fputc('\\', out);
            fputc(*s, out);
        }
        fputc('"', out);
        return;
    }
    case CONFIG_INT:
        memcpy(&v, field, sizeof v);
        fprintf(out, "%d", v);
        return;
    case CONFIG_BOOL:
        memcpy(&v, field, sizeof v);
        fputs(v ? "on" : "off", out);
        return;
    }
}

/* "1..64, " for ints, "error|warn, " for choices: what the help adds to def->help. */
static void print_range(FILE *out, const struct config_def *d)
{
    if (d->type == CONFIG_INT) fprintf(out, "%lld..%lld, ", d->min, d->max);
    if (d->choices) fprintf(out, "%s, ", d->choices);
}

static json_t *to_json(const struct config *c)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < NDEFS; i++) {
        const struct config_def *d = &config_defs[i];
        const void *field = (const char *)c + d->offset;
        int v = 0;
        if (d->type != CONFIG_STRING) memcpy(&v, field, sizeof v);
        json_t *j = d->type == CONFIG_STRING ? json_string(field)
                    : d->type == CONFIG_INT  ? json_integer(v)
                                             : json_boolean(v);
        if (json_object_set_new(o, d->name, j)) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}

void config_print(const struct config *c, FILE *out, int json)
{
    if (json) {
        json_t *o = to_json(c);
        /* Out of memory has no better report than an empty answer that fails to parse. */
        if (o) json_dumpf(o, out, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(o);
        fputc('\n', out);
        return;
    }
    for (size_t i = 0; i < NDEFS; i++) {
        const struct config_def *d = &config_defs[i];
        fprintf(out, "%s = ", d->name);
        print_value(out, d, c);
        fprintf(out, "  # %s (", d->help);
        print_range(out, d);
        if (d->env) fprintf(out, "env %s, ", d->env);
        fprintf(out, "default %s)\n", d->def);
    }
}

/* Prints text word by word, each line indented and at most 80 columns wide. */
static void print_wrapped(FILE *out, const char *text, int indent)
{
    int col = 0;
    for (const char *p = text; *p;) {
        while (*p == ' ')
            p++;
        int len = (int)strcspn(p, " ");
        if (!len) break;
        if (col && col + 1 + len > 80) {
            fputc('\n', out);
            col = 0;
        }
        col += col ? fprintf(out, " %.*s", len, p) : fprintf(out, "%*s%.*s", indent, "", len, p);
        p += len;
    }
    fputc('\n', out);
}

void config_print_help(FILE *out)
{
    fprintf(out, "options (also read from the config file, `name = value` with '_' for '-', and\n"
                 "from the environment; flags win over the environment, which wins over the "
                 "file):\n"
                 "  --config PATH\n");
    print_wrapped(out, "read settings from PATH (env " CONFIG_ENV_FILE ")", 6);
    for (size_t i = 0; i < NDEFS; i++) {
        const struct config_def *d = &config_defs[i];
        char flag[NAME_MAX_], text[1024];
        snprintf(flag, sizeof flag, "%s", d->name);
        for (char *s = flag; *s; s++)
            if (*s == '_') *s = '-';
        const char *meta = d->metavar               ? d->metavar
                           : d->choices             ? d->choices
                           : d->type == CONFIG_INT  ? "N"
                           : d->type == CONFIG_BOOL ? "on|off"
                                                    : "VALUE";
        fprintf(out, "  --%s %s\n", flag, meta);
        size_t n = (size_t)snprintf(text, sizeof text, "%s (", d->help);
        if (d->type == CONFIG_INT && n < sizeof text)
            n += (size_t)snprintf(text + n, sizeof text - n, "%lld..%lld, ", d->min, d->max);
        if (d->env && n < sizeof text)
            n += (size_t)snprintf(text + n, sizeof text - n, "env %s, ", d->env);
        if (n < sizeof text) snprintf(text + n, sizeof text - n, "default %s)", d->def);
        print_wrapped(out, text, 6);
    }
}
