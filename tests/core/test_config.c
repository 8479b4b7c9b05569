/* The server configuration table: values, the file, the environment, flags, output.
 * White-box (STYLE habit 15): includes config.c to reach a CONFIG_BOOL key, which the table
 * does not have yet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/config.c"
#include "core/mem.h"

/* A fresh process environment: no def's variable and no $CRMLOG_CONFIG. */
static void clear_env(void)
{
    for (size_t i = 0; i < config_ndefs; i++)
        if (config_defs[i].env) unsetenv(config_defs[i].env);
    unsetenv(CONFIG_ENV_FILE);
}

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    clear_env();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_config.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    clear_env();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes n bytes to a file in the test's temp dir; returns its path (static buffer). */
static const char *write_file(const char *name, const char *data, size_t n)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    return path;
}

/* What a function printed, via a memory stream; caller frees. */
static char *capture(const struct config *c, int json, int help)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    if (help)
        config_print_help(f);
    else
        config_print(c, f, json);
    assert_int_equal(fclose(f), 0);
    return text;
}

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (!strstr((hay), (needle))) fail_msg("'%s' does not contain '%s'", (hay), (needle));     \
    } while (0)

static void test_defaults(void **state)
{
    (void)state;
    struct config c;
    config_defaults(&c);
    assert_string_equal(c.db, "crmlog.db");
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_int_equal(c.threads, 2);
    assert_int_equal(c.autolog_interval_ms, 250);
    assert_int_equal(c.recording_wait_s, 30);
    assert_int_equal(c.retry_initial_ms, 1000);
    assert_int_equal(c.retry_max_ms, 300000);
    assert_int_equal(c.body_limit, 1048576);
    assert_int_equal(c.import_body_limit, 67108864);
    assert_int_equal(c.header_timeout_s, 30);
    assert_int_equal(c.per_ip_limit, 64);
    assert_int_equal(c.conn_limit, 1024);
    assert_string_equal(c.log_level, "info");
    assert_int_equal(c.shutdown_grace_s, 10);
    char err[ERR_LEN];
    assert_int_equal(config_check(&c, err), 0);

    /* The table itself: every default valid, names unique and short enough for flags,
     * every key documented with a variable, every field inside the struct. */
    assert_int_equal(config_ndefs, 14);
    for (size_t i = 0; i < config_ndefs; i++) {
        const struct config_def *d = &config_defs[i];
        struct config t = c;
        assert_int_equal(config_set(&t, d->name, d->def, err), 0);
        assert_memory_equal(&t, &c, sizeof c);
        assert_true(strlen(d->name) + 3 <= NAME_MAX_);
        assert_ptr_equal(config_find(d->name), d);
        assert_non_null(d->env);
        assert_true(strncmp(d->env, "CRMLOG_", 7) == 0);
        assert_non_null(d->help);
        assert_true(d->offset + d->size <= sizeof c);
        assert_true(d->min <= d->max);
        if (d->type == CONFIG_STRING) assert_true(d->max < (long long)d->size);
        for (size_t j = 0; j < i; j++) {
            assert_string_not_equal(config_defs[j].name, d->name);
            assert_string_not_equal(config_defs[j].env, d->env);
        }
    }
    assert_null(config_find("config"));
    assert_null(config_find("nope"));
}

/* ---------- values, one table ---------- */

struct value_case {
    const char *name, *value;
    const char *err; /* NULL: accepted; else a part of the message */
};

static const struct value_case value_cases[] = {
    /* ints: decimal only, bounds inclusive, the message names the bounds */
    {"threads", "1", NULL},
    {"threads", "64", NULL},
    {"threads", "007", NULL},
    {"threads", "0", "threads must be between 1 and 64, not '0'"},
    {"threads", "65", "between 1 and 64"},
    {"threads", "-1", "between 1 and 64"},
    {"threads", "99999999999999999999999", "between 1 and 64"},
    {"threads", "-99999999999999999999999", "between 1 and 64"},
    {"threads", "abc", "threads must be a whole number, not 'abc'"},
    {"threads", "", "whole number"},
    {"threads", " 2", "whole number"},
    {"threads", "2 ", "whole number"},
    {"threads", "+2", "whole number"},
    {"threads", "0x10", "whole number"},
    {"threads", "2.5", "whole number"},
    {"threads", "2k", "whole number"},
    {"autolog_interval_ms", "50", NULL},
    {"autolog_interval_ms", "49", "between 50 and 60000"},
    {"recording_wait_s", "0", NULL},
    {"recording_wait_s", "3600", NULL},
    {"recording_wait_s", "3601", "between 0 and 3600"},
    {"retry_initial_ms", "99", "between 100 and 3600000"},
    {"retry_max_ms", "86400000", NULL},
    {"retry_max_ms", "86400001", "between 1000 and 86400000"},
    {"body_limit", "1024", NULL},
    {"body_limit", "1073741824", NULL},
    {"body_limit", "1023", "between 1024 and 1073741824"},
    {"body_limit", "1073741825", "between 1024 and 1073741824"},
    {"import_body_limit", "1073741824", NULL},
    {"header_timeout_s", "0", "between 1 and 3600"},
    {"per_ip_limit", "100000", NULL},
    {"conn_limit", "100001", "between 1 and 100000"},
    {"shutdown_grace_s", "600", NULL},
    {"shutdown_grace_s", "601", "between 1 and 600"},
    /* strings */
    {"db", "sqlite:/var/lib/crmlog/crmlog.db", NULL},
    {"db", "postgres://crmlog@db.example/crmlog?sslmode=require", NULL},
    {"db", "/home/jos\xc3\xa9/crm log#1.db", NULL},
    {"db", "", "db must not be empty"},
    {"db", "a\nb", "control characters"},
    {"db", "a\tb", "control characters"},
    {"db", "\xff.db", "UTF-8"},
    {"db", "\xc0\xaf.db", "UTF-8"},
    {"db", "\xed\xa0\x80.db", "UTF-8"},
    {"log_level", "error", NULL},
    {"log_level", "warn", NULL},
    {"log_level", "debug", NULL},
    {"log_level", "info", NULL},
    {"log_level", "verbose", "log_level must be one of error|warn|info|debug, not 'verbose'"},
    {"log_level", "INFO", "one of error|warn|info|debug"},
    {"log_level", "inf", "one of"},
    {"log_level", "", "empty"},
    /* listen: IPv4, [IPv6] or localhost, and a port 0..65535 */
    {"listen", "127.0.0.1:0", NULL},
    {"listen", "[::1]:8080", NULL},
    {"listen", "localhost:80", NULL},
    {"listen", "0.0.0.0:65535", NULL},
    {"listen", "[::]:443", NULL},
    {"listen", "[2001:db8::1]:8080", NULL},
    {"listen", "127.0.0.1", "no port"},
    {"listen", "localhost", "no port"},
    {"listen", "127.0.0.1:70000", "port must be 0..65535, not '70000'"},
    {"listen", "127.0.0.1:65536", "0..65535"},
    {"listen", "127.0.0.1:", "0..65535"},
    {"listen", "127.0.0.1:-1", "0..65535"},
    {"listen", "127.0.0.1:+80", "0..65535"},
    {"listen", "127.0.0.1:http", "0..65535"},
    {"listen", "127.0.0.1:000080", "0..65535"},
    {"listen", "abc:80", "'abc' is not an IPv4 address, [IPv6] address or localhost"},
    {"listen", "example.com:80", "not an IPv4 address"},
    {"listen", "1.2.3:80", "not an IPv4 address"},
    {"listen", "256.1.1.1:80", "not an IPv4 address"},
    {"listen", ":80", "not an IPv4 address"},
    {"listen", "[127.0.0.1]:80", "not an IPv4 address"},
    {"listen", "[::1]", "[IPv6]:PORT"},
    {"listen", "[::1:80", "[IPv6]:PORT"},
    {"listen", "::1:80", "brackets"},
    {"nope", "1", "unknown key 'nope'"},
    {"recording-wait-s", "1", "unknown key"},
};

static void test_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof value_cases / sizeof *value_cases; i++) {
        const struct value_case *t = &value_cases[i];
        struct config c, before;
        config_defaults(&c);
        before = c;
        char err[ERR_LEN] = "";
        int rc = config_set(&c, t->name, t->value, err);
        if (!t->err) {
            if (rc) fail_msg("case %zu: %s = '%s' refused: %s", i, t->name, t->value, err);
            assert_string_equal(err, ""); /* untouched on success */
            const struct config_def *d = config_find(t->name);
            const char *field = (const char *)&c + d->offset;
            if (d->type == CONFIG_STRING) {
                assert_string_equal(field, t->value);
            } else {
                int v;
                memcpy(&v, field, sizeof v);
                assert_int_equal(v, strtoll(t->value, NULL, 10));
            }
        } else {
            if (rc != ERR_INVAL) fail_msg("case %zu: %s = '%s' accepted", i, t->name, t->value);
            assert_contains(err, t->err);
            assert_memory_equal(&c, &before, sizeof c);
        }
    }
    /* Lengths: a string key holds at most its field's size minus one. */
    struct config c, before;
    config_defaults(&c);
    char long_db[sizeof c.db + 1], err[ERR_LEN];
    memset(long_db, 'x', sizeof long_db);
    long_db[sizeof c.db - 1] = '\0';
    assert_int_equal(config_set(&c, "db", long_db, err), 0);
    assert_string_equal(c.db, long_db);
    before = c;
    long_db[sizeof c.db - 1] = 'x';
    long_db[sizeof c.db] = '\0';
    assert_int_equal(config_set(&c, "db", long_db, err), ERR_INVAL);
    assert_contains(err, "at most 1023 bytes");
    assert_memory_equal(&c, &before, sizeof c);
    assert_int_equal(config_set(&c, "log_level", "debugdebugdebugdebug", err), ERR_INVAL);
    assert_contains(err, "at most 15 bytes");
    /* A long bad value is cut in the message, which stays one line. */
    memset(long_db, '9', sizeof c.db);
    long_db[sizeof c.db] = '\0';
    assert_int_equal(config_set(&c, "threads", long_db, err), ERR_INVAL);
    assert_true(strlen(err) < 200);
    assert_memory_equal(&c, &before, sizeof c);
}

/* No key is a boolean yet; the type is ready for one. */
static void test_bool(void **state)
{
    (void)state;
    const struct config_def d = {.name = "flag",
                                 .type = CONFIG_BOOL,
                                 .def = "off",
                                 .offset = offsetof(struct config, threads),
                                 .size = sizeof(int)};
    static const char *const on[] = {"on", "true", "yes", "1"}, *const off[] = {"off", "false",
                                                                                "no", "0"};
    static const char *const bad[] = {"On", "2", "", "y", "offf", " on"};
    struct config c;
    char err[ERR_LEN];
    config_defaults(&c);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(apply(&d, &c, on[i], "flag", err), 0);
        assert_int_equal(c.threads, 1);
        assert_int_equal(apply(&d, &c, off[i], "flag", err), 0);
        assert_int_equal(c.threads, 0);
    }
    c.threads = 1;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(apply(&d, &c, bad[i], "flag", err), ERR_INVAL);
        assert_contains(err, "flag must be on or off");
        assert_int_equal(c.threads, 1);
    }
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    print_value(f, &d, &c);
    fclose(f);
    assert_string_equal(text, "on");
    free(text);
}

/* ---------- the config file ---------- */

static void test_file(void **state)
{
    (void)state;
    static const char text[] = "\xef\xbb\xbf# crmlog configuration\n"
                               "\n"
                               "   # an indented comment\n"
                               "threads=4\n"
                               "  listen\t=\t[::1]:9000   # trailing comment\n"
                               "db = postgres://crmlog@db/crm?options=-c%20x=y#frag   \n"
                               "log_level = debug\r\n"
                               "\t\n"
                               "header_timeout_s =    7#not a comment: a number then text\n";
    struct config c;
    char err[ERR_LEN];
    config_defaults(&c);
    const char *path = write_file("a.conf", text, sizeof text - 1);
    assert_int_equal(config_load_file(&c, path, err), ERR_INVAL);
    assert_contains(err, "a.conf:9: header_timeout_s must be a whole number");

    /* Same file with that line fixed and no newline at the end. */
    static const char good[] = "\xef\xbb\xbf# crmlog configuration\n"
                               "\n"
                               "   # an indented comment\n"
                               "threads=4\n"
                               "  listen\t=\t[::1]:9000   # trailing comment\n"
                               "db = postgres://crmlog@db/crm?options=-c%20x=y#frag   \n"
                               "log_level = debug\r\n"
                               "\t\n"
                               "header_timeout_s = 7 # seconds";
    path = write_file("a.conf", good, sizeof good - 1);
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, path, err), 0);
    assert_int_equal(c.threads, 4);
    assert_string_equal(c.listen, "[::1]:9000");
    assert_string_equal(c.db, "postgres://crmlog@db/crm?options=-c%20x=y#frag");
    assert_string_equal(c.log_level, "debug");
    assert_int_equal(c.header_timeout_s, 7);
    assert_int_equal(c.conn_limit, 1024); /* untouched keys keep what they had */

    /* Quotes keep spaces and " #"; \" and \\ are escapes. */
    static const char quoted[] = "db = \"  /srv/my crm #2/\\\"x\\\\y.db \"   # comment\n"
                                 "listen = \"localhost:80\"\n";
    path = write_file("q.conf", quoted, sizeof quoted - 1);
    assert_int_equal(config_load_file(&c, path, err), 0);
    assert_string_equal(c.db, "  /srv/my crm #2/\"x\\y.db ");
    assert_string_equal(c.listen, "localhost:80");

    /* An empty file, and one of comments only, change nothing. */
    struct config before = c;
    path = write_file("e.conf", "", 0);
    assert_int_equal(config_load_file(&c, path, err), 0);
    path = write_file("e.conf", "# x\n\n#y", 7);
    assert_int_equal(config_load_file(&c, path, err), 0);
    assert_memory_equal(&c, &before, sizeof c);
}

struct file_case {
    const char *text;
    const char *err; /* a part of the message, after "PATH:" */
};

static const struct file_case file_cases[] = {
    {"threads = 4\nnope = 1\n", "bad.conf:2: unknown key 'nope'"},
    {"threads = 4\n\n# c\nthreads = 5\n", "bad.conf:4: threads is already set on line 1"},
    {"threads = 4\nlog_level = info\n   threads=4\n", "bad.conf:3: threads is already set"},
    {"threads = 100\n", "bad.conf:1: threads must be between 1 and 64, not '100'"},
    {"# ok\nthreads\n", "bad.conf:2: expected name = value"},
    {"threads 4\n", "bad.conf:1: expected name = value"},
    {" = 4\n", "bad.conf:1: expected name = value (no name)"},
    {"db = \"abc\n", "bad.conf:1: no closing quote"},
    {"db = \"a\" b\n", "bad.conf:1: text after the closing quote"},
    {"db =\n", "bad.conf:1: db must not be empty"},
    {"db = # only a comment\n", "bad.conf:1: db must not be empty"},
    {"recording-wait-s = 5\n", "unknown key 'recording-wait-s' (did you mean recording_wait_s?)"},
    {"--threads = 5\n", "unknown key '--threads'"},
    {"listen = 127.0.0.1:99999\n", "bad.conf:1: listen: the port must be 0..65535"},
    {"log_level = loud\n", "bad.conf:1: log_level must be one of error|warn|info|debug"},
    {"threads = 4\nTHREADS = 4\n", "bad.conf:2: unknown key 'THREADS'"},
    {"threads = 4\nlisten = 127.0.0.1:1\nconn_limit = 0\n", "bad.conf:3: conn_limit must be"},
};

static void test_file_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof file_cases / sizeof *file_cases; i++) {
        struct config c, before;
        config_defaults(&c);
        c.threads = 9; /* not a default, to see that nothing is reset either */
        before = c;
        char err[ERR_LEN] = "";
        const char *path = write_file("bad.conf", file_cases[i].text, strlen(file_cases[i].text));
        int rc = config_load_file(&c, path, err);
        if (rc != ERR_INVAL) fail_msg("case %zu: rc %d, '%s'", i, rc, err);
        assert_contains(err, file_cases[i].err);
        assert_true(strncmp(err, tmpdir, strlen(tmpdir)) == 0); /* starts with the path */
        assert_memory_equal(&c, &before, sizeof c);
    }

    /* A NUL byte, a line too long, a file that is not there, a directory. */
    struct config c, before;
    config_defaults(&c);
    before = c;
    char err[ERR_LEN];
    const char *path = write_file("nul.conf", "threads = 4\ndb = a\0b\n", 20);
    assert_int_equal(config_load_file(&c, path, err), ERR_INVAL);
    assert_contains(err, "nul.conf:2: NUL byte");
    static char big[LINE_MAX_ + 20];
    memcpy(big, "db = ", 5);
    memset(big + 5, 'x', sizeof big - 6);
    big[sizeof big - 1] = '\n';
    path = write_file("big.conf", big, sizeof big);
    assert_int_equal(config_load_file(&c, path, err), ERR_INVAL);
    assert_contains(err, "big.conf:1: line longer than 4095 bytes");
    char missing[128];
    snprintf(missing, sizeof missing, "%s/missing.conf", tmpdir);
    assert_int_equal(config_load_file(&c, missing, err), ERR_IO);
    assert_contains(err, "missing.conf: No such file");
    assert_int_equal(config_load_file(&c, tmpdir, err), ERR_IO);
    assert_memory_equal(&c, &before, sizeof c);
}

/* ---------- environment and flags ---------- */

/* A mutable argv (getopt_long permutes it), NULL-terminated. */
#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})
#define S(lit) ((char[]){lit})

static void test_env(void **state)
{
    (void)state;
    struct config c, before;
    char err[ERR_LEN];
    config_defaults(&c);
    setenv("CRMLOG_THREADS", "5", 1);
    setenv("CRMLOG_DB", "sqlite:/tmp/env.db", 1);
    setenv("CRMLOG_LOG_LEVEL", "", 1); /* empty: as if unset */
    assert_int_equal(config_load_env(&c, err), 0);
    assert_int_equal(c.threads, 5);
    assert_string_equal(c.db, "sqlite:/tmp/env.db");
    assert_string_equal(c.log_level, "info");

    /* A bad variable: named in the message, nothing applied (not even the good ones). */
    config_defaults(&c);
    before = c;
    setenv("CRMLOG_LISTEN", "localhost", 1);
    assert_int_equal(config_load_env(&c, err), ERR_INVAL);
    assert_contains(err, "CRMLOG_LISTEN must be ADDR:PORT");
    assert_memory_equal(&c, &before, sizeof c);
    clear_env();
}

static void test_precedence(void **state)
{
    (void)state;
    static const char text[] = "threads = 3\nlog_level = debug\nlisten = localhost:1\n";
    const char *p = write_file("p.conf", text, sizeof text - 1);
    char path[128], err[ERR_LEN];
    snprintf(path, sizeof path, "%s", p);
    struct config c;

    /* File only, through $CRMLOG_CONFIG. */
    setenv(CONFIG_ENV_FILE, path, 1);
    config_defaults(&c);
    char **a1 = ARGV(S("serve"));
    assert_int_equal(config_parse_args(&c, 1, a1, err), 1);
    assert_int_equal(c.threads, 3);
    assert_string_equal(c.log_level, "debug");
    assert_string_equal(c.listen, "localhost:1");

    /* The environment over the file. */
    setenv("CRMLOG_THREADS", "5", 1);
    config_defaults(&c);
    assert_int_equal(config_parse_args(&c, 1, ARGV(S("serve")), err), 1);
    assert_int_equal(c.threads, 5);
    assert_string_equal(c.log_level, "debug");

    /* Flags over the environment; --config over $CRMLOG_CONFIG, wherever it is. */
    setenv(CONFIG_ENV_FILE, "/nonexistent/crmlog.conf", 1);
    config_defaults(&c);
    char **a3 =
        ARGV(S("serve"), S("--threads=7"), S("--config"), S(""), S("--listen"), S("[::1]:0"));
    char cfg[128];
    snprintf(cfg, sizeof cfg, "%s", path);
    a3[3] = cfg;
    assert_int_equal(config_parse_args(&c, 6, a3, err), 6);
    assert_int_equal(c.threads, 7);
    assert_string_equal(c.log_level, "debug");
    assert_string_equal(c.listen, "[::1]:0");

    /* --config after the flags it loads under: the flag still wins. */
    config_defaults(&c);
    char **a4 = ARGV(S("serve"), S("--log-level"), S("warn"), S("--config"), cfg);
    assert_int_equal(config_parse_args(&c, 5, a4, err), 5);
    assert_string_equal(c.log_level, "warn");
    assert_int_equal(c.threads, 5);

    /* $CRMLOG_CONFIG naming a missing file is an error, and changes nothing. */
    config_defaults(&c);
    struct config before = c;
    assert_int_equal(config_parse_args(&c, 1, ARGV(S("serve")), err), ERR_IO);
    assert_contains(err, "/nonexistent/crmlog.conf");
    assert_memory_equal(&c, &before, sizeof c);
    clear_env();
}

static void test_flags(void **state)
{
    (void)state;
    struct config c;
    char err[ERR_LEN];

    /* --name value and --name=value, '-' for '_', operands mixed in, `--` ends options. */
    config_defaults(&c);
    char **a =
        ARGV(S("serve"), S("--recording-wait-s"), S("12"), S("op1"), S("--autolog-interval-ms=60"),
             S("--db=sqlite:x=y.db"), S("--"), S("--threads=9"));
    int first = config_parse_args(&c, 8, a, err);
    assert_int_equal(first, 6);
    assert_string_equal(a[first], "op1");
    assert_string_equal(a[first + 1], "--threads=9"); /* an operand after -- */
    assert_int_equal(c.recording_wait_s, 12);
    assert_int_equal(c.autolog_interval_ms, 60);
    assert_string_equal(c.db, "sqlite:x=y.db");
    assert_int_equal(c.threads, 2);

    /* Every def has its flag. */
    for (size_t i = 0; i < config_ndefs; i++) {
        const struct config_def *d = &config_defs[i];
        char flag[NAME_MAX_ + 1100];
        int n = snprintf(flag, sizeof flag, "--%s=", d->name);
        for (char *s = flag; *s; s++)
            if (*s == '_') *s = '-';
        snprintf(flag + n, sizeof flag - (size_t)n, "%s", d->def);
        config_defaults(&c);
        struct config before = c;
        assert_int_equal(config_parse_args(&c, 2, ARGV(S("serve"), flag), err), 2);
        assert_memory_equal(&c, &before, sizeof c);
    }

    /* The last of a repeated flag wins. */
    config_defaults(&c);
    assert_int_equal(
        config_parse_args(&c, 3, ARGV(S("serve"), S("--threads=3"), S("--threads=4")), err), 3);
    assert_int_equal(c.threads, 4);

    /* A separate value after an operand (argv is permuted as it goes). */
    config_defaults(&c);
    char **b = ARGV(S("serve"), S("op1"), S("--threads"), S("5"), S("op2"), S("--db"), S("d"));
    first = config_parse_args(&c, 7, b, err);
    assert_int_equal(first, 5);
    assert_string_equal(b[5], "op1");
    assert_string_equal(b[6], "op2");
    assert_int_equal(c.threads, 5);
    assert_string_equal(c.db, "d");
}

struct flag_case {
    char *args[4]; /* after "serve"; NULL-terminated */
    int rc;
    const char *err;
};

static void test_flag_errors(void **state)
{
    (void)state;
    char missing[128];
    snprintf(missing, sizeof missing, "--config=%s/missing.conf", tmpdir);
    struct flag_case cases[] = {
        {{S("--nope"), NULL}, ERR_USAGE, "unknown or ambiguous option '--nope'"},
        {{S("--nope=3"), NULL}, ERR_USAGE, "unknown or ambiguous option '--nope' (see crmlog"},
        {{S("--retry"), S("5"), NULL}, ERR_USAGE, "ambiguous option '--retry'"},
        {{S("--thread"), S("5"), NULL},
         ERR_USAGE,
         "write the whole option name --threads, not '--thread'"},
        {{S("op"), S("--thread=5"), NULL}, ERR_USAGE, "whole option name --threads"},
        {{S("--conf"), S("x"), NULL}, ERR_USAGE, "whole option name --config, not '--conf'"},
        {{S("-t"), NULL}, ERR_USAGE, "unknown option -t"},
        {{S("--threads"), NULL}, ERR_USAGE, "--threads needs a value"},
        {{S("--config"), NULL}, ERR_USAGE, "--config needs a value"},
        {{S("--config="), NULL}, ERR_USAGE, "--config needs a file name"},
        {{S("--db"), S("--listen"), S("localhost:1"), NULL},
         ERR_USAGE,
         "--db needs a value, not the option '--listen'"},
        {{S("--threads"), S("100"), NULL}, ERR_INVAL, "--threads must be between 1 and 64"},
        {{S("--threads=4"), S("--log-level=loud"), NULL},
         ERR_INVAL,
         "--log-level must be one of error|warn|info|debug"},
        {{S("--listen=localhost"), NULL}, ERR_INVAL, "--listen must be ADDR:PORT"},
        {{S("--recording_wait_s=3"), NULL}, ERR_USAGE, "unknown or ambiguous option"},
        {{S("--retry-initial-ms=600000"), NULL},
         ERR_INVAL,
         "retry_initial_ms (600000) must not be above retry_max_ms (300000)"},
        {{S("--body-limit=100000000"), NULL},
         ERR_INVAL,
         "body_limit (100000000) must not be above import_body_limit"},
        {{missing, NULL}, ERR_IO, "missing.conf: No such file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *argv[6] = {S("serve")};
        int argc = 1;
        for (; cases[i].args[argc - 1]; argc++)
            argv[argc] = cases[i].args[argc - 1];
        struct config c, before;
        config_defaults(&c);
        before = c;
        char err[ERR_LEN] = "";
        int rc = config_parse_args(&c, argc, argv, err);
        if (rc != cases[i].rc) fail_msg("case %zu: rc %d, '%s'", i, rc, err);
        assert_contains(err, cases[i].err);
        assert_memory_equal(&c, &before, sizeof c);
    }

    /* A bad value in the environment stops parse_args too; a good flag does not rescue it. */
    struct config c, before;
    config_defaults(&c);
    before = c;
    char err[ERR_LEN];
    setenv("CRMLOG_THREADS", "0", 1);
    assert_int_equal(config_parse_args(&c, 2, ARGV(S("serve"), S("--threads=3")), err), ERR_INVAL);
    assert_contains(err, "CRMLOG_THREADS must be between 1 and 64");
    assert_memory_equal(&c, &before, sizeof c);
    /* ...while the cross-key rule looks at the final result only. */
    setenv("CRMLOG_THREADS", "3", 1);
    setenv("CRMLOG_RETRY_INITIAL_MS", "600000", 1);
    assert_int_equal(config_parse_args(&c, 2, ARGV(S("serve"), S("--retry-max-ms=3600000")), err),
                     2);
    assert_int_equal(c.retry_initial_ms, 600000);
    assert_int_equal(c.retry_max_ms, 3600000);
    clear_env();
}

/* ---------- output ---------- */

static void test_print(void **state)
{
    (void)state;
    struct config c;
    char err[ERR_LEN];
    config_defaults(&c);
    char *text = capture(&c, 0, 0);
    assert_contains(text, "threads = 2  # HTTP worker threads (1..64, env CRMLOG_THREADS, "
                          "default 2)\n");
    assert_contains(text, "log_level = info  # least severe messages logged "
                          "(error|warn|info|debug, env CRMLOG_LOG_LEVEL, default info)\n");
    /* One line per def, in table order, each starting with its key. */
    const char *line = text;
    for (size_t i = 0; i < config_ndefs; i++) {
        char start[NAME_MAX_ + 4];
        snprintf(start, sizeof start, "%s = ", config_defs[i].name);
        assert_true(strncmp(line, start, strlen(start)) == 0);
        assert_non_null(strstr(line, config_defs[i].help));
        assert_non_null(strstr(line, config_defs[i].env));
        line = strchr(line, '\n');
        assert_non_null(line);
        line++;
    }
    assert_string_equal(line, "");
    free(text);

    /* What config show prints reads back to the same struct, odd strings included. */
    assert_int_equal(config_set(&c, "db", " /srv/crm #1/\"q\"\\x.db ", err), 0);
    assert_int_equal(config_set(&c, "listen", "[::1]:0", err), 0);
    assert_int_equal(config_set(&c, "threads", "64", err), 0);
    assert_int_equal(config_set(&c, "log_level", "error", err), 0);
    text = capture(&c, 0, 0);
    const char *path = write_file("show.conf", text, strlen(text));
    struct config back;
    config_defaults(&back);
    assert_int_equal(config_load_file(&back, path, err), 0);
    assert_memory_equal(&back, &c, sizeof c);
    free(text);

    /* JSON: every key, ints as numbers. */
    text = capture(&c, 1, 0);
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), config_ndefs);
    assert_string_equal(json_string_value(json_object_get(j, "db")), c.db);
    assert_int_equal(json_integer_value(json_object_get(j, "threads")), 64);
    assert_true(json_is_integer(json_object_get(j, "import_body_limit")));
    assert_string_equal(json_string_value(json_object_get(j, "log_level")), "error");
    json_decref(j);
    free(text);

    /* Out of memory in JSON output: no crash, no leak (ASan checks), a line all the same. */
    json_set_alloc_funcs(mem_alloc, mem_free);
    for (long n = 0; n < 40; n++) {
        mem_fail_after(n);
        text = capture(&c, 1, 0);
        mem_fail_after(-1);
        assert_true(strlen(text) >= 1);
        assert_int_equal(text[strlen(text) - 1], '\n');
        free(text);
    }
}

static void test_help(void **state)
{
    (void)state;
    char *text = capture(NULL, 0, 1);
    assert_contains(text, "  --config PATH\n");
    assert_contains(text, "CRMLOG_CONFIG");
    assert_contains(text, "  --recording-wait-s N\n");
    assert_contains(text, "  --listen ADDR:PORT\n");
    assert_contains(text, "  --log-level error|warn|info|debug\n");
    for (size_t i = 0; i < config_ndefs; i++) {
        assert_non_null(strstr(text, config_defs[i].env));
        char flag[NAME_MAX_];
        snprintf(flag, sizeof flag, "--%s ", config_defs[i].name);
        for (char *s = flag; *s; s++)
            if (*s == '_') *s = '-';
        assert_contains(text, flag);
    }
    for (const char *l = text; *l;) {
        size_t len = strcspn(l, "\n");
        if (len > 82) fail_msg("help line too long: %.*s", (int)len, l);
        l += len + (l[len] == '\n');
    }
    free(text);
}

/* contrib/crmlog.conf.example is config_print of the defaults under a comment header: it
 * must follow the table. */
static void test_example_file(void **state)
{
    (void)state;
    const char *path = CRMLOG_TEST_DATA "/../../contrib/crmlog.conf.example";
    struct config c, def;
    char err[ERR_LEN];
    config_defaults(&def);
    c = def;
    c.threads = 9;
    int rc = config_load_file(&c, path, err);
    if (rc) fail_msg("%s", err);
    assert_memory_equal(&c, &def, sizeof c);

    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *want = capture(&def, 0, 0), got[8192];
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    got[n] = '\0';
    const char *body = got;
    while (*body == '#' || *body == '\n')
        body += strcspn(body, "\n") + (body[strcspn(body, "\n")] == '\n');
    if (strcmp(body, want) != 0)
        fail_msg("contrib/crmlog.conf.example is out of date; regenerate its body with "
                 "`crmlog config show` on defaults:\n%s",
                 want);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),    cmocka_unit_test(test_values),
        cmocka_unit_test(test_bool),        cmocka_unit_test(test_file),
        cmocka_unit_test(test_file_errors), cmocka_unit_test(test_env),
        cmocka_unit_test(test_precedence),  cmocka_unit_test(test_flags),
        cmocka_unit_test(test_flag_errors), cmocka_unit_test(test_print),
        cmocka_unit_test(test_help),        cmocka_unit_test(test_example_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
