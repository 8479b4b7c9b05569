/* The command line. Each command is a row of one table (name, handler, usage, help), from
 * which dispatch and every --help are derived. Handlers parse their own options with
 * getopt_long, open what they need through struct ctx, and return an exit code. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/config.h"
#include "../core/err.h"
#include "../core/ingest.h"
#include "../core/token.h"
#include "../core/logger.h"
#include "../core/mem.h"
#include "../core/view.h"
#include "../core/worker.h"
#include "../http/server.h"

#define CLI_MAX_ARGS 32 /* repeated options (--phone, --field…) per command */

struct ctx {
    const char *db;
    int db_given; /* --db was on the command line (it then beats the config file) */
    const char *user_name;
    const char *cmd; /* for messages */
    store *st;
    crm *crm;
    struct user user;
    struct logger lg;
    char err[ERR_LEN];
};

/* ---------- errors and output ---------- */

static int fail(struct ctx *x, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct ctx *x, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "crmlog %s: ", x->cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

/* Maps an ERR_* code (message already in x->err) to the documented exit code. */
static int fail_err(struct ctx *x, int rc)
{
    int code = rc == ERR_ALREADY    ? EXIT_ALREADY
               : rc == ERR_CONFLICT ? EXIT_CHOICE
               : rc == ERR_USAGE    ? EXIT_USAGE
                                    : EXIT_ERROR;
    return fail(x, code, "%s", x->err[0] ? x->err : err_str(rc));
}

static int usage_error(struct ctx *x, const char *what)
{
    return fail(x, EXIT_USAGE, "%s (see crmlog %s --help)", what, x->cmd);
}

static int print_json(json_t *j)
{
    if (!j) {
        fprintf(stderr, "crmlog: out of memory\n");
        return EXIT_ERROR;
    }
    int rc = json_dumpf(j, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(j);
    fputc('\n', stdout);
    return rc ? EXIT_ERROR : EXIT_OK;
}

/* ---------- opening the store and the CRM ---------- */

static int open_store(struct ctx *x)
{
    int rc = store_open(x->db, &x->st, x->err);
    if (!rc) rc = store_user_get(x->st, x->user_name, &x->user, x->err);
    return rc ? fail_err(x, rc) : 0;
}

static int open_all(struct ctx *x)
{
    int rc = open_store(x);
    if (rc) return rc;
    struct settings set;
    if ((rc = settings_load(x->st, x->user.id, &set, x->err))) return fail_err(x, rc);
    /* The embedded CRM sits in the store's database, on its connection. */
    char config[16];
    snprintf(config, sizeof config, "region=%.2s", set.region);
    if ((rc = crm_open_in_store("local", config, x->st, &x->crm, x->err))) return fail_err(x, rc);
    if ((rc = logger_init(&x->lg, x->st, x->crm, &x->user, x->err))) return fail_err(x, rc);
    return 0;
}

/* ---------- history walks ---------- */

struct history {
    struct ctx *x;
    view *v;
    int64_t now;
    int json;
    size_t count;
    int rc;
};

static int history_init(struct history *h, struct ctx *x, int json)
{
    memset(h, 0, sizeof *h);
    h->x = x;
    h->json = json;
    h->now = time_now_ms();
    return view_open(&x->lg, &h->v, x->err) ? fail(x, EXIT_ERROR, "out of memory") : 0;
}

/* ---------- commands ---------- */

struct cmd {
    const char *name;
    int (*run)(struct ctx *x, int argc, char **argv);
    const char *usage;
    const char *help;
};

static const struct cmd *find_cmd(const char *name);

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    }
    return 0;
}

/* Parses options common to most commands; returns the index of the first operand, or -1
 * after printing a usage error. `extra` handles command-specific options (may be NULL). */
typedef int (*opt_fn)(struct ctx *x, int opt, const char *arg, void *st);

static int parse_opts(struct ctx *x, int argc, char **argv, const struct option *longopts,
                      opt_fn extra, void *st)
{
    optind = 0; /* glibc: 0 re-initializes the scanner for a new argv */
    opterr = 0;
    int opt;
    /* Options may come before or after operands (GNU permutation); `--` ends options, for
     * a note that starts with '-'. */
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == '?' || opt == ':') {
            char what[128];
            if (optopt)
                snprintf(what, sizeof what, "unknown option or missing value for -%c", optopt);
            else
                snprintf(what, sizeof what, "unknown option or missing value: %s",
                         argv[optind - 1]);
            usage_error(x, what);
            return -1;
        }
        if (extra && extra(x, opt, optarg, st)) return -1;
    }
    return optind;
}

/* import FILE|- */
static int opt_json(struct ctx *x, int opt, const char *arg, void *st)
{
    (void)x, (void)arg;
    if (opt == 'j') *(int *)st = 1;
    return 0;
}

static int cmd_import(struct ctx *x, int argc, char **argv)
{
    static const struct option o[] = {{"json", no_argument, NULL, 'j'}, {0}};
    int json = 0;
    int i = parse_opts(x, argc, argv, o, opt_json, &json);
    if (i < 0) return EXIT_USAGE;
    if (argc - i != 1) return usage_error(x, "give one FILE, or - for standard input");
    const char *path = argv[i];
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!in) return fail(x, EXIT_ERROR, "cannot open %s: %s", path, strerror(errno));
    int rc = open_store(x);
    if (rc) {
        if (in != stdin) fclose(in);
        return rc;
    }
    struct ingest_counts n;
    rc = ingest_file(x->st, x->user.id, in, strcmp(path, "-") == 0 ? "stdin" : path, &n, x->err);
    if (in != stdin) fclose(in);
    if (rc) return fail(x, EXIT_ERROR, "%s; nothing was imported", x->err);
    if (json)
        return print_json(
            json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "records", (json_int_t)n.stats.records,
                      "calls", (json_int_t)n.stats.calls, "sms", (json_int_t)n.stats.sms, "added",
                      (json_int_t)n.added, "updated", (json_int_t)n.updated, "unchanged",
                      (json_int_t)n.unchanged, "skipped", (json_int_t)n.stats.skipped));
    printf("imported %zu calls and %zu SMS: %zu new, %zu updated, %zu already there", n.stats.calls,
           n.stats.sms, n.added, n.updated, n.unchanged);
    if (n.stats.skipped) printf(", %zu skipped (fax, voicemail, pager)", n.stats.skipped);
    printf("\n");
    return EXIT_OK;
}

/* contacts add|find */
struct contacts_opts {
    int json;
    const char *name;
    const char *phones[CLI_MAX_ARGS];
    size_t nphones;
    const char *assocs[CLI_MAX_ARGS];
    size_t nassocs;
};

static int opt_contacts(struct ctx *x, int opt, const char *arg, void *p)
{
    struct contacts_opts *co = p;
    switch (opt) {
    case 'j':
        co->json = 1;
        return 0;
    case 'n':
        co->name = arg;
        return 0;
    case 'p':
        if (co->nphones == CLI_MAX_ARGS) return usage_error(x, "too many --phone"), -1;
        co->phones[co->nphones++] = arg;
        return 0;
    case 'a':
        if (co->nassocs == CLI_MAX_ARGS) return usage_error(x, "too many --association"), -1;
        co->assocs[co->nassocs++] = arg;
        return 0;
    }
    return 0;
}

static int print_contact(struct ctx *x, const struct crm_contact *c, json_t *arr)
{
    struct crm_assoc_list assocs;
    int rc = x->crm->ops->list_associations(x->crm, c->id, &assocs, x->err);
    if (rc) return fail_err(x, rc);
    if (arr) {
        json_array_append_new(arr, view_contact(c, &assocs));
        return 0;
    }
    printf("%s\t%s\t", c->id, c->name);
    for (size_t i = 0; i < c->nphones; i++)
        printf("%s%s", i ? ", " : "", c->phones[i]);
    for (size_t i = 0; i < assocs.n; i++)
        printf("%s%s (%s)", i ? ", " : "\tassociations: ", assocs.items[i].name,
               assocs.items[i].id);
    printf("\n");
    return 0;
}

static int cmd_contacts(struct ctx *x, int argc, char **argv)
{
    static const struct option o[] = {{"json", no_argument, NULL, 'j'},
                                      {"name", required_argument, NULL, 'n'},
                                      {"phone", required_argument, NULL, 'p'},
                                      {"association", required_argument, NULL, 'a'},
                                      {0}};
    if (argc < 2) return usage_error(x, "say add or find");
    const char *sub = argv[1];
    struct contacts_opts co = {0};
    int i = parse_opts(x, argc - 1, argv + 1, o, opt_contacts, &co);
    if (i < 0) return EXIT_USAGE;
    i++; /* index in argv */
    int rc;
    if (strcmp(sub, "add") == 0) {
        if (i != argc) return usage_error(x, "contacts add takes only options");
        if (!co.name) return usage_error(x, "contacts add needs --name NAME");
        if (!co.nphones) return usage_error(x, "contacts add needs at least one --phone NUMBER");
        if ((rc = open_all(x))) return rc;
        struct crm_contact c;
        rc = x->crm->ops->add_contact(x->crm, co.name, co.phones, co.nphones, co.assocs, co.nassocs,
                                      &c, x->err);
        if (rc) return fail_err(x, rc);
        if (!co.json) return print_contact(x, &c, NULL);
        json_t *arr = json_array();
        if ((rc = print_contact(x, &c, arr))) {
            json_decref(arr);
            return rc;
        }
        json_t *one = json_incref(json_array_get(arr, 0));
        json_decref(arr);
        return print_json(one);
    }
    if (strcmp(sub, "find") == 0) {
        if (co.name || co.nphones || co.nassocs)
            return usage_error(x, "contacts find takes NUMBER and --json only");
        if (argc - i != 1) return usage_error(x, "contacts find needs one NUMBER");
        if ((rc = open_all(x))) return rc;
        char e164[PHONE_LEN];
        if (phone_to_e164(argv[i], x->lg.settings.region, 0, e164, x->err))
            return fail(x, EXIT_ERROR, "%s", x->err);
        struct crm_contact_list l;
        if ((rc = logger_match(&x->lg, e164, &l, x->err))) return fail_err(x, rc);
        json_t *arr = co.json ? json_array() : NULL;
        for (size_t k = 0; k < l.n; k++) {
            if ((rc = print_contact(x, &l.items[k], arr))) {
                json_decref(arr);
                return rc;
            }
        }
        if (arr) return print_json(arr);
        if (l.total == 0) printf("no contact has %s\n", e164);
        return EXIT_OK;
    }
    return usage_error(x, "say add or find");
}

/* calls [--status STATUS] */
struct calls_opts {
    int json;
    int status;
    const char *bad_status;
};

static int opt_calls(struct ctx *x, int opt, const char *arg, void *p)
{
    struct calls_opts *co = p;
    (void)x;
    if (opt == 'j') co->json = 1;
    if (opt == 's') {
        co->status = call_status_parse(arg);
        if (co->status < 0) co->bad_status = arg;
    }
    return 0;
}

static void print_call_line(const struct call_rec *c, json_t *j, int64_t now)
{
    char when[32], dur[16];
    time_format(c->start_ms, when, sizeof when);
    when[10] = ' ';
    when[16] = '\0';
    snprintf(dur, sizeof dur, "%d:%02d", c->duration / 60, c->duration % 60);
    json_t *contact = json_object_get(j, "contact");
    const char *who = json_is_object(contact) ? json_string_value(json_object_get(contact, "name"))
                      : *c->number            ? c->number
                      : c->internal           ? c->extension
                                              : "(withheld)";
    printf("%-6lld %s  %-3s %-4s %-28.28s %6s  %-14.14s %s", (long long)c->id, when,
           c->direction == DIR_OUTBOUND ? "out" : "in", call_type_str(c->type), who,
           c->type == CALL_SMS ? "" : dur, c->result, call_status_str(c->status));
    if (c->status == ST_UNRESOLVED) printf(" (%s)", conflict_str(c->reason));
    if (c->internal) printf(" [internal]");
    if (*c->recording) printf(" [recording]");
    if (call_past_retention(c, now)) printf(" [past %d days]", RETENTION_DAYS);
    printf("\n");
}

static int history_row(const struct call_rec *c, void *p)
{
    struct history *h = p;
    json_t *j = view_call(h->v, c, h->x->err);
    if (!j) return h->rc = ERR_NOMEM;
    if (h->json) {
        if (h->count) fputc(',', stdout);
        json_dumpf(j, stdout, JSON_COMPACT | JSON_ENSURE_ASCII);
    } else {
        print_call_line(c, j, h->now);
    }
    json_decref(j);
    h->count++;
    return 0;
}

static int cmd_calls(struct ctx *x, int argc, char **argv)
{
    static const struct option o[] = {
        {"json", no_argument, NULL, 'j'}, {"status", required_argument, NULL, 's'}, {0}};
    struct calls_opts co = {.status = -1};
    int i = parse_opts(x, argc, argv, o, opt_calls, &co);
    if (i < 0) return EXIT_USAGE;
    if (i != argc) return usage_error(x, "calls takes no operands");
    if (co.bad_status)
        return usage_error(x, "--status is one of active, unlogged, logged, unresolved, review");
    int rc = open_all(x);
    if (rc) return rc;
    struct history h;
    if ((rc = history_init(&h, x, co.json))) return rc;
    if (co.json) fputc('[', stdout);
    rc = store_calls_list(x->st, x->user.id, co.status, history_row, &h, x->err);
    if (co.json) fputs("]\n", stdout);
    view_close(h.v);
    if (rc) return fail_err(x, rc);
    if (!co.json && h.count == 0) printf("no calls\n");
    return EXIT_OK;
}

/* note CALL TEXT */
static int cmd_note(struct ctx *x, int argc, char **argv)
{
    static const struct option o[] = {{0}};
    int i = parse_opts(x, argc, argv, o, NULL, NULL);
    if (i < 0) return EXIT_USAGE;
    if (argc - i != 2) return usage_error(x, "give CALL and TEXT");
    if (strlen(argv[i + 1]) > NOTE_MAX)
        return fail(x, EXIT_ERROR, "the note is longer than %d bytes; nothing saved", NOTE_MAX);
    int rc = open_store(x);
    if (rc) return rc;
    struct call_rec c;
    if ((rc = store_call_get(x->st, x->user.id, argv[i], &c, x->err))) return fail_err(x, rc);
    if ((rc = store_note_set(x->st, x->user.id, c.id, argv[i + 1], x->err))) return fail_err(x, rc);
    printf("note saved for call %lld\n", (long long)c.id);
    return EXIT_OK;
}

/* log CALL … */
struct log_opts {
    int json;
    struct log_choice choice;
    char field_buf[CRM_MAX_FIELDS][256];
};

static int opt_log(struct ctx *x, int opt, const char *arg, void *p)
{
    struct log_opts *lo = p;
    switch (opt) {
    case 'j':
        lo->json = 1;
        break;
    case 'n':
        lo->choice.note = arg;
        break;
    case 'c':
        lo->choice.contact_id = arg;
        break;
    case 'N':
        lo->choice.new_contact = arg;
        break;
    case 'a':
        lo->choice.association_id = arg;
        break;
    case 'f': {
        const char *eq = strchr(arg, '=');
        size_t k = lo->choice.nfields;
        if (!eq || eq == arg) return usage_error(x, "--field takes NAME=VALUE"), -1;
        if (k == CRM_MAX_FIELDS) return usage_error(x, "too many --field"), -1;
        if ((size_t)(eq - arg) >= sizeof lo->field_buf[k])
            return usage_error(x, "--field name too long"), -1;
        memcpy(lo->field_buf[k], arg, (size_t)(eq - arg));
        lo->field_buf[k][eq - arg] = '\0';
        lo->choice.fields[k].name = lo->field_buf[k];
        lo->choice.fields[k].value = eq + 1;
        lo->choice.nfields++;
        break;
    }
    }
    return 0;
}

static int cmd_log(struct ctx *x, int argc, char **argv)
{
    static const struct option o[] = {{"json", no_argument, NULL, 'j'},
                                      {"note", required_argument, NULL, 'n'},
                                      {"contact", required_argument, NULL, 'c'},
                                      {"new-contact", required_argument, NULL, 'N'},
                                      {"association", required_argument, NULL, 'a'},
                                      {"field", required_argument, NULL, 'f'},
                                      {0}};
    struct log_opts *lo = mem_calloc(1, sizeof *lo);
    struct log_plan *plan = mem_alloc(sizeof *plan);
    struct call_rec *c = mem_alloc(sizeof *c);
    int rc;
    if (!lo || !plan || !c) {
        rc = fail(x, EXIT_ERROR, "out of memory");
        goto out;
    }
    int i = parse_opts(x, argc, argv, o, opt_log, lo);
    if (i < 0) {
        rc = EXIT_USAGE;
        goto out;
    }
    if (argc - i != 1) {
        rc = usage_error(x, "give one CALL (crmlog's id or the session id)");
        goto out;
    }
    if ((rc = open_all(x))) goto out;
    int r = logger_log(&x->lg, argv[i], &lo->choice, plan, c, x->err);
    if (r == ERR_CONFLICT) {
        if (lo->json) {
            print_json(json_pack("{s:s,s:o}", "reason", conflict_str(plan->reason), "candidates",
                                 view_candidates(plan)));
        } else {
            const char *how = plan->reason == CONFLICT_NO_CONTACT
                                  ? "no contact has this number; give --new-contact NAME "
                                    "or --contact ID"
                              : plan->reason == CONFLICT_MULTIPLE_CONTACTS
                                  ? "several contacts have this number; choose one with "
                                    "--contact ID"
                                  : "the contact has several associations; choose one with "
                                    "--association ID";
            fprintf(stderr, "crmlog log: call %lld not logged (%s): %s\n", (long long)c->id,
                    conflict_str(plan->reason), how);
            size_t n =
                plan->reason == CONFLICT_MULTIPLE_ASSOCIATIONS ? plan->assocs.n : plan->matches.n;
            for (size_t k = 0; k < n; k++) {
                const char *id = plan->reason == CONFLICT_MULTIPLE_ASSOCIATIONS
                                     ? plan->assocs.items[k].id
                                     : plan->matches.items[k].id;
                const char *name = plan->reason == CONFLICT_MULTIPLE_ASSOCIATIONS
                                       ? plan->assocs.items[k].name
                                       : plan->matches.items[k].name;
                fprintf(stderr, "  %s\t%s\n", id, name);
            }
        }
        rc = EXIT_CHOICE;
        goto out;
    }
    if (r) {
        rc = fail_err(x, r);
        goto out;
    }
    if (lo->json) {
        struct history h;
        if ((rc = history_init(&h, x, 1))) goto out;
        rc = print_json(view_call(h.v, c, x->err));
        view_close(h.v);
    } else {
        printf("logged call %lld to %s (contact %s)%s%s as activity %s\n", (long long)c->id,
               c->contact_name, c->contact_id, *c->association_id ? ", association " : "",
               c->association_id, c->log_id);
        rc = EXIT_OK;
    }
out:
    mem_free(lo);
    mem_free(plan);
    mem_free(c);
    return rc;
}

/* fields */
static int cmd_fields(struct ctx *x, int argc, char **argv)
{
    static const struct option o[] = {{"json", no_argument, NULL, 'j'}, {0}};
    int json = 0;
    int i = parse_opts(x, argc, argv, o, opt_json, &json);
    if (i < 0) return EXIT_USAGE;
    if (i != argc) return usage_error(x, "fields takes no operands");
    int rc = open_all(x);
    if (rc) return rc;
    if (json) return print_json(view_fields(x->crm));
    const struct crm_ops *ops = x->crm->ops;
    for (size_t k = 0; k < ops->nfields; k++) {
        const struct crm_field *f = &ops->fields[k];
        printf("%s (%s)%s", f->name, f->label, f->required ? " required" : "");
        for (size_t c = 0; f->choices && f->choices[c]; c++)
            printf("%s%s", c ? ", " : ": ", f->choices[c]);
        printf("\n");
    }
    return EXIT_OK;
}

/* activities [--contact ID] */
struct activities_opts {
    int json;
    const char *contact;
};

static int opt_activities(struct ctx *x, int opt, const char *arg, void *p)
{
    struct activities_opts *ao = p;
    (void)x;
    if (opt == 'j') ao->json = 1;
    if (opt == 'c') ao->contact = arg;
    return 0;
}

static int activity_row(const struct crm_activity *a, void *p)
{
    json_t *arr = p;
    if (arr) return json_array_append_new(arr, view_activity(a)) ? ERR_NOMEM : 0;
    printf("%s\tcontact %s%s%s\t%s\t%s\n", a->id, a->contact_id,
           a->association_id && *a->association_id ? ", association " : "",
           a->association_id ? a->association_id : "", a->kind, a->subject);
    return 0;
}

static int cmd_activities(struct ctx *x, int argc, char **argv)
{
    static const struct option o[] = {
        {"json", no_argument, NULL, 'j'}, {"contact", required_argument, NULL, 'c'}, {0}};
    struct activities_opts ao = {0};
    int i = parse_opts(x, argc, argv, o, opt_activities, &ao);
    if (i < 0) return EXIT_USAGE;
    if (i != argc) return usage_error(x, "activities takes no operands");
    int rc = open_all(x);
    if (rc) return rc;
    if (!x->crm->ops->list_activities)
        return fail(x, EXIT_ERROR, "the %s CRM does not list activities here; open the CRM",
                    x->crm->ops->name);
    json_t *arr = ao.json ? json_array() : NULL;
    rc = x->crm->ops->list_activities(x->crm, ao.contact, activity_row, arr, x->err);
    if (rc) {
        json_decref(arr);
        return fail_err(x, rc);
    }
    return arr ? print_json(arr) : EXIT_OK;
}

/* settings | settings set KEY VALUE */
static int cmd_settings(struct ctx *x, int argc, char **argv)
{
    static const struct option o[] = {{"json", no_argument, NULL, 'j'}, {0}};
    int json = 0;
    int i = parse_opts(x, argc, argv, o, opt_json, &json);
    if (i < 0) return EXIT_USAGE;
    int rc;
    if (argc - i >= 1 && strcmp(argv[i], "set") == 0) {
        if (argc - i != 3) return usage_error(x, "settings set needs KEY and VALUE");
        if ((rc = open_store(x))) return rc;
        if ((rc = settings_set(x->st, x->user.id, argv[i + 1], argv[i + 2], x->err)))
            return fail_err(x, rc);
        char val[SETTING_VALUE_LEN];
        settings_get(x->st, x->user.id, argv[i + 1], val, x->err);
        if (json) return print_json(json_pack("{s:s}", argv[i + 1], val));
        printf("%s = %s\n", argv[i + 1], val);
        return EXIT_OK;
    }
    if (argc != i) return usage_error(x, "say settings, or settings set KEY VALUE");
    if ((rc = open_store(x))) return rc;
    if (json) {
        json_t *obj = view_settings(x->st, x->user.id, x->err);
        return obj ? print_json(obj) : fail_err(x, ERR_DB);
    }
    for (size_t k = 0; k < settings_ndefs; k++) {
        char val[SETTING_VALUE_LEN];
        if ((rc = settings_get(x->st, x->user.id, settings_defs[k].key, val, x->err)))
            return fail_err(x, rc);
        printf("%-20s %-24s # %s\n", settings_defs[k].key, val, settings_defs[k].help);
    }
    return EXIT_OK;
}

/* autolog */
static int cmd_autolog(struct ctx *x, int argc, char **argv)
{
    static const struct option o[] = {{"json", no_argument, NULL, 'j'}, {0}};
    int json = 0;
    int i = parse_opts(x, argc, argv, o, opt_json, &json);
    if (i < 0) return EXIT_USAGE;
    if (i != argc) return usage_error(x, "autolog takes no operands");
    int rc = open_all(x);
    if (rc) return rc;
    if (!x->lg.settings.auto_log)
        fprintf(stderr, "crmlog autolog: auto_log is off, nothing done (crmlog settings set "
                        "auto_log on)\n");
    /* Between passes run by hand (or cron), a failed call waits a minute, then longer. */
    static const struct worker_opts opts = {.retry_initial_ms = 60 * 1000,
                                            .retry_max_ms = 60 * 60 * 1000};
    struct worker_counts n;
    if ((rc = worker_pass(&x->lg, &opts, &n, x->err))) return fail_err(x, rc);
    if (json)
        return print_json(json_pack("{s:I,s:I,s:I,s:I}", "logged", (json_int_t)n.logged,
                                    "unresolved", (json_int_t)n.unresolved, "review",
                                    (json_int_t)n.review, "failed", (json_int_t)n.failed));
    printf("logged %zu, unresolved %zu, review %zu", n.logged, n.unresolved, n.review);
    if (n.failed) printf(", %zu failed and will be retried", n.failed);
    printf("\n");
    return EXIT_OK;
}

/* unresolved */
struct unresolved_walk {
    struct history h;
    json_t *arr;
};

static int unresolved_row(const struct call_rec *c, void *p)
{
    struct unresolved_walk *w = p;
    struct ctx *x = w->h.x;
    if (w->arr) {
        json_t *j = view_unresolved(w->h.v, c, x->err);
        return !j || json_array_append_new(w->arr, j) ? ERR_NOMEM : 0;
    }
    char *cands = NULL;
    if (store_call_candidates(x->st, x->user.id, c->id, &cands, x->err)) return ERR_DB;
    json_t *cj = json_loads(cands, 0, NULL);
    mem_free(cands);
    char when[32];
    time_format(c->start_ms, when, sizeof when);
    when[10] = ' ';
    when[16] = '\0';
    printf("%-6lld %s  %-4s %-16s %s", (long long)c->id, when, call_type_str(c->type),
           *c->number ? c->number : "(withheld)", conflict_str(c->reason));
    for (size_t k = 0; k < json_array_size(cj); k++) {
        json_t *e = json_array_get(cj, k);
        printf("%s%s %s", k ? ", " : ": ", json_string_value(json_object_get(e, "id")),
               json_string_value(json_object_get(e, "name")));
    }
    printf("\n");
    json_decref(cj);
    return 0;
}

static int cmd_unresolved(struct ctx *x, int argc, char **argv)
{
    static const struct option o[] = {{"json", no_argument, NULL, 'j'}, {0}};
    int json = 0;
    int i = parse_opts(x, argc, argv, o, opt_json, &json);
    if (i < 0) return EXIT_USAGE;
    if (i != argc) return usage_error(x, "unresolved takes no operands");
    int rc = open_all(x);
    if (rc) return rc;
    struct unresolved_walk w;
    if ((rc = history_init(&w.h, x, json))) return rc;
    w.arr = json ? json_array() : NULL;
    rc = store_calls_list(x->st, x->user.id, ST_UNRESOLVED, unresolved_row, &w, x->err);
    view_close(w.h.v);
    if (rc) {
        json_decref(w.arr);
        return fail_err(x, rc);
    }
    if (w.arr) return print_json(w.arr);
    return EXIT_OK;
}

/* demo: contacts and calls for a new store */
static int cmd_demo(struct ctx *x, int argc, char **argv)
{
    static const struct option o[] = {{0}};
    int i = parse_opts(x, argc, argv, o, NULL, NULL);
    if (i < 0) return EXIT_USAGE;
    if (i != argc) return usage_error(x, "demo takes no operands");
    int rc = open_all(x);
    if (rc) return rc;
    int64_t n = 0;
    if ((rc = store_calls_count(x->st, x->user.id, -1, &n, x->err))) return fail_err(x, rc);
    if (n > 0) {
        printf("the store already holds calls; no demo data added\n");
        return EXIT_OK;
    }
    static const struct {
        const char *name;
        const char *phone;
        const char *deals[2];
    } people[] = {
        {"Alice Johnson", "(650) 555-0101", {"Acme renewal", NULL}},
        {"Priya Patel", "650-555-0142", {"Globex pilot", "Globex rollout"}},
        {"Oliver Smith", "+44 20 7946 0958", {"London office fit-out", NULL}},
        {"Dana Lee", "650.555.0123", {NULL, NULL}},
        {"Sam Lee", "+1 650 555 0123", {NULL, NULL}},
    };
    for (size_t k = 0; k < sizeof people / sizeof *people; k++) {
        struct crm_contact c;
        const char *phones[] = {people[k].phone};
        size_t nd = people[k].deals[1] ? 2 : people[k].deals[0] ? 1 : 0;
        if ((rc = x->crm->ops->add_contact(x->crm, people[k].name, phones, 1, people[k].deals, nd,
                                           &c, x->err)))
            return fail_err(x, rc);
    }
    char *text = demo_records(time_now_ms());
    FILE *in = text ? fmemopen(text, strlen(text), "r") : NULL;
    if (!in) {
        mem_free(text);
        return fail(x, EXIT_ERROR, "out of memory");
    }
    struct ingest_counts added;
    rc = ingest_file(x->st, x->user.id, in, "demo", &added, x->err);
    fclose(in);
    mem_free(text);
    if (rc) return fail_err(x, rc);
    printf("demo data added: %zu contacts, %zu calls, %zu SMS\n", sizeof people / sizeof *people,
           added.stats.calls, added.stats.sms);
    return EXIT_OK;
}

/* serve and config show: the server's configuration from its one table (config.h):
 * defaults, then --config FILE or $CRMLOG_CONFIG, then the environment, then flags. The
 * global --db counts as a flag. */
static int load_config(struct ctx *x, int argc, char **argv, struct config *cfg, int *first)
{
    config_defaults(cfg);
    if (x->db && !x->db_given) config_set(cfg, "db", x->db, NULL); /* $CRMLOG_DB, as elsewhere */
    int i = config_parse_args(cfg, argc, argv, x->err);
    if (i < 0) return fail(x, EXIT_USAGE, "%s (see crmlog %s --help)", x->err, x->cmd);
    if (x->db_given && config_set(cfg, "db", x->db, x->err))
        return fail(x, EXIT_USAGE, "%s", x->err);
    *first = i;
    return 0;
}

static int cmd_serve(struct ctx *x, int argc, char **argv)
{
    struct config cfg;
    int i = 0, rc = load_config(x, argc, argv, &cfg, &i);
    if (rc) return rc;
    if (i != argc) return usage_error(x, "serve takes no operands");
    if ((rc = server_run(&cfg, x->err))) return fail_err(x, rc);
    return EXIT_OK;
}

static int cmd_config(struct ctx *x, int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "show") != 0) return usage_error(x, "say config show");
    int json = 0;
    /* --json is ours; everything else goes to the config table's own parser. */
    char *args[CLI_MAX_ARGS * 2];
    int n = 0;
    args[n++] = argv[0];
    for (int k = 2; k < argc; k++) {
        if (strcmp(argv[k], "--json") == 0)
            json = 1;
        else if (n < (int)(sizeof args / sizeof *args))
            args[n++] = argv[k];
        else
            return usage_error(x, "too many options");
    }
    struct config cfg;
    int i = 0, rc = load_config(x, n, args, &cfg, &i);
    if (rc) return rc;
    if (i != n) return usage_error(x, "config show takes only options");
    config_print(&cfg, stdout, json);
    return ferror(stdout) ? EXIT_ERROR : EXIT_OK;
}

/* users [list] | users add NAME [--extension N]... | users token NAME */
struct users_opts {
    int json;
    const char *exts[CLI_MAX_ARGS];
    size_t nexts;
};

static int opt_users(struct ctx *x, int opt, const char *arg, void *p)
{
    struct users_opts *uo = p;
    if (opt == 'j') uo->json = 1;
    if (opt == 'e') {
        if (uo->nexts == CLI_MAX_ARGS) return usage_error(x, "too many --extension"), -1;
        if (!phone_is_extension(arg))
            return fail(x, EXIT_USAGE, "--extension %s: an extension is 1 to %d digits", arg,
                        PHONE_EXT_MAX),
                   -1;
        uo->exts[uo->nexts++] = arg;
    }
    return 0;
}

static int print_token(struct ctx *x, const struct user *u, const char *token, int json)
{
    if (json)
        return print_json(
            json_pack("{s:I,s:s,s:s}", "id", (json_int_t)u->id, "name", u->name, "token", token));
    (void)x;
    printf("user %s (id %lld), API token (shown only now, keep it):\n%s\n", u->name,
           (long long)u->id, token);
    return EXIT_OK;
}

static int user_row(const struct user *u, void *p)
{
    json_t *arr = p;
    if (arr)
        return json_array_append_new(
            arr, json_pack("{s:I,s:s}", "id", (json_int_t)u->id, "name", u->name));
    printf("%lld\t%s\n", (long long)u->id, u->name);
    return 0;
}

static int cmd_users(struct ctx *x, int argc, char **argv)
{
    static const struct option o[] = {
        {"json", no_argument, NULL, 'j'}, {"extension", required_argument, NULL, 'e'}, {0}};
    struct users_opts uo = {0};
    int shift = argc >= 2 && argv[1][0] != '-';
    const char *sub = shift ? argv[1] : "list";
    int i = parse_opts(x, argc - shift, argv + shift, o, opt_users, &uo);
    if (i < 0) return EXIT_USAGE;
    i += shift;
    int rc;
    char token[TOKEN_LEN], hash[TOKEN_HASH_LEN];
    if (strcmp(sub, "add") == 0) {
        if (argc - i != 1) return usage_error(x, "users add needs one NAME");
        const char *name = argv[i];
        if (!*name || strlen(name) >= CALL_NAME_LEN)
            return fail(x, EXIT_ERROR, "a user name is 1 to %d bytes", CALL_NAME_LEN - 1);
        if ((rc = open_store(x))) return rc;
        if ((rc = token_new(token, x->err))) return fail_err(x, rc);
        token_hash(token, hash);
        struct user u;
        if ((rc = store_user_add(x->st, name, hash, uo.exts, uo.nexts, &u, x->err)))
            return fail_err(x, rc);
        return print_token(x, &u, token, uo.json);
    }
    if (strcmp(sub, "token") == 0) {
        if (argc - i != 1 || uo.nexts) return usage_error(x, "users token needs one NAME");
        if ((rc = open_store(x))) return rc;
        struct user u;
        if ((rc = store_user_get(x->st, argv[i], &u, x->err))) return fail_err(x, rc);
        if ((rc = token_new(token, x->err))) return fail_err(x, rc);
        token_hash(token, hash);
        if ((rc = store_user_set_token(x->st, u.id, hash, x->err))) return fail_err(x, rc);
        return print_token(x, &u, token, uo.json);
    }
    if (strcmp(sub, "list") == 0) {
        if (i != argc || uo.nexts) return usage_error(x, "users list takes no operands");
        if ((rc = open_store(x))) return rc;
        json_t *arr = uo.json ? json_array() : NULL;
        if ((rc = store_users_list(x->st, user_row, arr, x->err))) {
            json_decref(arr);
            return fail_err(x, rc);
        }
        return arr ? print_json(arr) : EXIT_OK;
    }
    return usage_error(x, "say users list, users add NAME or users token NAME");
}

/* events token [--rotate] */
struct events_opts {
    int json;
    int rotate;
};

static int opt_events(struct ctx *x, int opt, const char *arg, void *p)
{
    struct events_opts *eo = p;
    (void)x, (void)arg;
    if (opt == 'j') eo->json = 1;
    if (opt == 'r') eo->rotate = 1;
    return 0;
}

static int cmd_events(struct ctx *x, int argc, char **argv)
{
    static const struct option o[] = {
        {"json", no_argument, NULL, 'j'}, {"rotate", no_argument, NULL, 'r'}, {0}};
    struct events_opts eo = {0};
    if (argc < 2 || strcmp(argv[1], "token") != 0) return usage_error(x, "say events token");
    int i = parse_opts(x, argc - 1, argv + 1, o, opt_events, &eo);
    if (i < 0) return EXIT_USAGE;
    if (i + 1 != argc) return usage_error(x, "events token takes no operands");
    int rc = open_store(x);
    if (rc) return rc;
    char token[TOKEN_LEN];
    if ((rc = ingest_events_token(x->st, token, eo.rotate, x->err))) return fail_err(x, rc);
    if (eo.json) return print_json(json_pack("{s:s}", "token", token));
    printf("%s\n", token);
    return EXIT_OK;
}

static const struct cmd cmds[] = {
    {"import", cmd_import, "import FILE|- [--json]",
     "Imports calls and SMS from a RingCentral call-log response ({\"records\":[...]}), a\n"
     "message-store response, or JSON Lines of such records. Importing the same records\n"
     "again adds nothing. A malformed file imports nothing and says where it is broken."},
    {"contacts", cmd_contacts,
     "contacts add --name NAME --phone NUMBER [--phone NUMBER]... [--association NAME]... "
     "[--json]\n       crmlog contacts find NUMBER [--json]",
     "Adds a contact to the embedded CRM, with numbers written any way people write them\n"
     "and associations (deals); or finds the contacts that have a number."},
    {"calls", cmd_calls, "calls [--status active|unlogged|logged|unresolved|review] [--json]",
     "Shows the call and SMS history, newest first, with the matched contact (none when no\n"
     "contact or several match), the status, a recording mark, and calls past the 90 days\n"
     "telephony keeps call logs and recordings."},
    {"note", cmd_note, "note CALL TEXT",
     "Saves the note for a call at once, also while the call is active. It goes into the\n"
     "log. A logged call's note cannot change here: edit it in the CRM."},
    {"log", cmd_log,
     "log CALL [--note TEXT] [--contact ID] [--new-contact NAME] [--association ID]\n"
     "           [--field NAME=VALUE]... [--json]",
     "Logs a call (past ones too) to its one matched contact with the note, date/time,\n"
     "duration, result and recording link. Exits 3 with the reason and candidates when a\n"
     "choice is needed: no_contact (give --new-contact NAME to create a placeholder contact\n"
     "with the call's number, or --contact ID), multiple_contacts (--contact ID),\n"
     "multiple_associations (--association ID). Exits 4 when the call is already logged."},
    {"fields", cmd_fields, "fields [--json]",
     "Lists the log fields the CRM's connector declares, with their allowed values."},
    {"activities", cmd_activities, "activities [--contact ID] [--json]",
     "Lists what the embedded CRM holds: the logged calls and SMS days."},
    {"settings", cmd_settings, "settings [--json]\n       crmlog settings set KEY VALUE",
     "Shows or changes settings: auto_log on|off, auto_log_form_only on|off,\n"
     "phone_formats (up to 3 comma-separated masks like (***) ***-****), region (ISO code)."},
    {"autolog", cmd_autolog, "autolog [--json]",
     "Runs one auto-log pass over every ended call and SMS not yet logged, however many\n"
     "arrived since the last pass: logs those without conflict, queues conflicts as\n"
     "unresolved, and with auto_log_form_only on leaves calls in review. Needs auto_log on."},
    {"unresolved", cmd_unresolved, "unresolved [--json]",
     "Lists the calls auto-log could not log, with the reason and candidates. Resolve one\n"
     "with crmlog log CALL and the missing choice."},
    {"demo", cmd_demo, "demo",
     "Adds demo contacts, calls and SMS to an empty store, to see crmlog at work."},
    {"serve", cmd_serve, "serve [--listen ADDR:PORT] [--config FILE] [OPTION VALUE]...",
     "Runs the server: the JSON API under /api/v1 (docs/api.md), live call events, /healthz,\n"
     "/metrics, and the auto-logger, which logs ended calls within a second and catches up on\n"
     "everything not yet logged when it starts. SIGTERM finishes in-flight work and exits.\n"
     "Settings come from defaults, then --config FILE or $CRMLOG_CONFIG, then the environment,\n"
     "then these flags (crmlog config show prints the effective values):"},
    {"config", cmd_config, "config show [--json] [OPTION VALUE]...",
     "Prints the server's effective configuration: each value from the defaults, the config\n"
     "file, the environment and the flags given, in `name = value` lines that a config file\n"
     "can hold."},
    {"users", cmd_users,
     "users [list] [--json]\n       crmlog users add NAME [--extension N]... [--json]\n"
     "       crmlog users token NAME [--json]",
     "Lists users, adds one, or gives one a new API token (the old one stops working). The\n"
     "token is printed once; only its hash is stored. Extensions route live call events to\n"
     "the user."},
    {"events", cmd_events, "events token [--rotate] [--json]",
     "Prints the company-wide token that telephone systems use for /api/v1/events and\n"
     "/api/v1/cti/{token}, creating it on first use; --rotate replaces it."},
};

static const struct cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (strcmp(cmds[i].name, name) == 0) return &cmds[i];
    return NULL;
}

static void print_help(FILE *out)
{
    fprintf(out, "usage: crmlog [--db PATH] [--user NAME] COMMAND [ARGS]\n\n"
                 "Logs every phone call and SMS into the CRM, exactly once.\n\n"
                 "The store is --db PATH, else $CRMLOG_DB, else ./crmlog.db. Commands act for the\n"
                 "first user unless --user NAME is given.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        fprintf(out, "  crmlog %s\n", cmds[i].usage);
    fprintf(out, "\nexit codes: 0 ok, 1 error, 2 usage, 3 needs a person's choice, 4 already "
                 "logged\n'crmlog COMMAND --help' tells more. Documentation: docs/cli.md\n");
}

int cli_main(int argc, char **argv)
{
    static const struct option o[] = {{"db", required_argument, NULL, 'd'},
                                      {"user", required_argument, NULL, 'u'},
                                      {"help", no_argument, NULL, 'h'},
                                      {"version", no_argument, NULL, 'V'},
                                      {0}};
    /* JSON allocations go through mem_* like everything of ours. */
    json_set_alloc_funcs(mem_alloc, mem_free);
    struct ctx x = {.cmd = "", .db = getenv("CRMLOG_DB")};
    if (!x.db || !*x.db) x.db = "crmlog.db";
    optind = 1;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "+h", o, NULL)) != -1) {
        switch (opt) {
        case 'd':
            x.db = optarg;
            x.db_given = 1;
            break;
        case 'u':
            x.user_name = optarg;
            break;
        case 'h':
            print_help(stdout);
            return EXIT_OK;
        case 'V':
            printf("crmlog 0.1.0\n");
            return EXIT_OK;
        default:
            fprintf(stderr, "crmlog: unknown option %s (see crmlog --help)\n", argv[optind - 1]);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        print_help(stderr);
        return EXIT_USAGE;
    }
    const struct cmd *c = find_cmd(argv[optind]);
    if (!c) {
        fprintf(stderr, "crmlog: unknown command '%s' (see crmlog --help)\n", argv[optind]);
        return EXIT_USAGE;
    }
    x.cmd = c->name;
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    if (wants_help(sub_argc, sub_argv)) {
        printf("usage: crmlog %s\n\n%s\n", c->usage, c->help);
        if (c->run == cmd_serve || c->run == cmd_config) config_print_help(stdout);
        return EXIT_OK;
    }
    int rc = c->run(&x, sub_argc, sub_argv);
    crm_close(x.crm);
    store_close(x.st);
    return rc;
}
