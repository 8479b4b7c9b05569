/* Import of RingCentral call-log and message-store records (see import.h).
 *
 * Two passes over the shape of the input, never over the data: the first line decides
 * between one JSON document (a `{"records":[…]}` response, pretty-printed or not, or an
 * array of records) and JSON Lines. JSON Lines is the bulk path: one capped line buffer,
 * reused, one json_loadb per line, and the record goes straight into a stack call_rec, so
 * memory stays flat however long the file is. */
#include "import.h"

#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include <jansson.h>
#include <pthread.h>

#include "../core/buf.h"
#include "../core/err.h"
#include "../core/mem.h"

#define IMPORT_LINE_MAX (1024 * 1024)      /* longest JSON Lines line, without its '\n' */
#define IMPORT_DOC_MAX (256 * 1024 * 1024) /* largest whole document */
#define IMPORT_READER_MAX (IMPORT_LINE_MAX + 2)
#define IMPORT_READER_START (64 * 1024) /* most files never need more */
#define IMPORT_ID_SHOWN 64              /* record ids quoted in messages are cut here */

/* ---- reading lines ------------------------------------------------------------------- */

/* A line reader over one buffer that grows (by doubling, for long lines) up to
 * IMPORT_READER_MAX bytes: room for the longest line, its '\n', and one byte more so a line
 * that is one byte too long is seen as such. Lines are returned in place (not
 * NUL-terminated; json_loadb takes a length) and are valid until the next call. */
struct reader {
    FILE *in;
    char *buf;
    size_t size;
    size_t start;   /* first byte not yet returned */
    size_t scanned; /* bytes from start already known to hold no '\n' */
    size_t end;     /* end of data read */
    int eof;
    long line; /* number of the last line returned */
};

/* Returns 1 with a line, 0 at the end of input, ERR_TOOBIG for a line over the cap (start
 * is then left at that line, so whole-document mode can take the data over), ERR_IO or
 * ERR_NOMEM. */
static int reader_next(struct reader *r, const char **line, size_t *len)
{
    for (;;) {
        char *p = r->buf + r->start;
        char *nl = memchr(p + r->scanned, '\n', r->end - r->start - r->scanned);
        size_t n = nl ? (size_t)(nl - p) : r->end - r->start;
        if (n > IMPORT_LINE_MAX) return ERR_TOOBIG;
        if (nl || (r->eof && n > 0)) {
            r->start += n + (nl != NULL);
            r->scanned = 0;
            r->line++;
            if (n > 0 && p[n - 1] == '\r') n--; /* CRLF files */
            *line = p;
            *len = n;
            return 1;
        }
        if (r->eof) return 0;
        r->scanned = n;
        /* Keep the partial line at the front so the read below has the most room. */
        if (r->start > 0) {
            memmove(r->buf, p, n);
            r->start = 0;
            r->end = n;
        }
        if (r->end == r->size) {
            size_t size = r->size * 2 < IMPORT_READER_MAX ? r->size * 2 : IMPORT_READER_MAX;
            char *b = mem_realloc(r->buf, size);
            if (!b) return ERR_NOMEM;
            r->buf = b;
            r->size = size;
        }
        size_t got = fread(r->buf + r->end, 1, r->size - r->end, r->in);
        r->end += got;
        if (got == 0) {
            if (ferror(r->in)) return ERR_IO;
            r->eof = 1;
        }
    }
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

/* ---- fields -------------------------------------------------------------------------- */

/* JSON null counts as absent: RingCentral writes null for fields it has no value for. */
static json_t *field(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

/* Points *out at the string field `key` of obj ("" when absent, or an error when required),
 * checked to fit a field of cap bytes. The text is jansson's, valid while obj is. `parent`
 * names the enclosing object in messages ("from" gives "from.phoneNumber"), or is NULL.
 * Names are only put together on error: this runs a dozen times per record. */
static int get_strp(const json_t *obj, const char *parent, const char *key, int required,
                    size_t cap, const char **out, char *msg)
{
    const char *dot = parent ? "." : "";
    json_t *v = field(obj, key);
    *out = "";
    if (!parent) parent = "";
    if (!v) return required ? err_set(msg, ERR_PARSE, "missing %s%s%s", parent, dot, key) : 0;
    if (!json_is_string(v))
        return err_set(msg, ERR_PARSE, "%s%s%s must be a string", parent, dot, key);
    size_t n = json_string_length(v);
    if (n >= cap)
        return err_set(msg, ERR_INVAL, "%s%s%s is too long (%zu bytes, at most %zu)", parent, dot,
                       key, n, cap - 1);
    *out = json_string_value(v);
    return 0;
}

/* get_strp, copied into dst (cap bytes). */
static int get_str(const json_t *obj, const char *parent, const char *key, int required, char *dst,
                   size_t cap, char *msg)
{
    const char *s;
    int rc = get_strp(obj, parent, key, required, cap, &s, msg);
    if (rc == 0) memcpy(dst, s, strlen(s) + 1);
    return rc;
}

/* Ids arrive as strings or as integers depending on the API and its version. An empty
 * string counts as absent so the session-id fallbacks apply. Returns 1 when set. */
static int get_id(const json_t *obj, const char *key, char *dst, char *msg)
{
    json_t *v = field(obj, key);
    dst[0] = '\0';
    if (!v) return 0;
    if (json_is_integer(v)) {
        snprintf(dst, CALL_ID_LEN, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return 1;
    }
    if (!json_is_string(v))
        return err_set(msg, ERR_PARSE, "%s must be a string or an integer", key);
    int rc = get_str(obj, NULL, key, 0, dst, CALL_ID_LEN, msg);
    return rc ? rc : dst[0] != '\0';
}

/* One side of a call: the other party (number, extension, name, internal) when `other`,
 * else the user's own side (own_number). */
static int get_party(const json_t *party, const char *name, const struct import_opts *opts,
                     struct call_rec *rec, int other, char *msg)
{
    const char *phone, *ext;
    int rc;

    if (!party) return 0; /* withheld: no number, not internal */
    if (!json_is_object(party)) return err_set(msg, ERR_PARSE, "%s must be an object", name);
    /* phone_to_e164 takes up to 250 bytes; longer is not a number anyway. */
    if ((rc = get_strp(party, name, "phoneNumber", 0, 256, &phone, msg))) return rc;
    if ((rc = get_strp(party, name, "extensionNumber", 0, PHONE_LEN, &ext, msg))) return rc;
    if (other) {
        rc = get_str(party, name, "name", 0, rec->party_name, sizeof rec->party_name, msg);
        if (rc) return rc;
    }

    char *dst = other ? rec->number : rec->own_number;
    if (phone[0] && !phone_is_extension(phone)) {
        char perr[ERR_LEN];
        rc = phone_to_e164(phone, opts->region, PHONE_TELEPHONY, dst, perr);
        if (rc) return err_set(msg, rc, "%s.phoneNumber: %s", name, perr);
        return 0;
    }
    /* An extension written in phoneNumber is still an extension; extensionNumber wins
     * when both are given since it is the canonical one. */
    const char *e = ext[0] ? ext : phone;
    size_t n = strlen(e);
    if (n == 0) return 0;
    if (n >= PHONE_LEN) return err_set(msg, ERR_INVAL, "%s: extension '%s' is too long", name, e);
    if (other) {
        memcpy(rec->extension, e, n + 1);
        rec->internal = 1;
    } else {
        memcpy(rec->own_number, e, n + 1);
    }
    return 0;
}

static int get_direction(const json_t *j, struct call_rec *rec, char *msg)
{
    json_t *v = field(j, "direction");
    if (!v) return err_set(msg, ERR_PARSE, "missing direction");
    if (!json_is_string(v)) return err_set(msg, ERR_PARSE, "direction must be a string");
    const char *s = json_string_value(v);
    if (strcmp(s, "Inbound") == 0)
        rec->direction = DIR_INBOUND;
    else if (strcmp(s, "Outbound") == 0)
        rec->direction = DIR_OUTBOUND;
    else
        return err_set(msg, ERR_INVAL, "direction '%.32s' is not Inbound or Outbound", s);
    return 0;
}

static int get_time(const json_t *j, const char *key, int64_t *ms, char *msg)
{
    const char *s;
    int rc = get_strp(j, NULL, key, 1, 64, &s, msg);
    if (rc) return rc;
    if (time_parse(s, ms))
        return err_set(msg, ERR_INVAL, "%s '%s' is not an ISO 8601 time", key, s);
    return 0;
}

/* ---- records ------------------------------------------------------------------------- */

static int parse_voice(const json_t *j, const struct import_opts *opts, struct call_rec *rec,
                       char *msg)
{
    int rc;

    rec->type = CALL_VOICE;
    rc = get_id(j, "sessionId", rec->session_id, msg);
    if (rc == 0) rc = get_id(j, "telephonySessionId", rec->session_id, msg);
    if (rc == 0) rc = get_id(j, "id", rec->session_id, msg);
    if (rc < 0) return rc;
    if (rc == 0) return err_set(msg, ERR_PARSE, "missing sessionId");
    if ((rc = get_id(j, "id", rec->record_id, msg)) < 0) return rc;
    if ((rc = get_direction(j, rec, msg))) return rc;
    if ((rc = get_time(j, "startTime", &rec->start_ms, msg))) return rc;

    json_t *d = field(j, "duration");
    if (d) {
        if (json_is_real(d))
            return err_set(msg, ERR_INVAL, "duration must be a whole number of seconds");
        if (!json_is_integer(d)) return err_set(msg, ERR_PARSE, "duration must be a number");
        json_int_t v = json_integer_value(d);
        if (v < 0 || v > INT_MAX)
            return err_set(msg, ERR_INVAL, "duration %" JSON_INTEGER_FORMAT " is out of range", v);
        rec->duration = (int)v;
    }
    if ((rc = get_str(j, NULL, "result", 0, rec->result, sizeof rec->result, msg))) return rc;
    if ((rc = get_str(j, NULL, "action", 0, rec->action, sizeof rec->action, msg))) return rc;

    /* The other party is the caller on inbound calls and the callee on outbound ones. */
    int in = rec->direction == DIR_INBOUND;
    json_t *from = field(j, "from"), *to = field(j, "to");
    if ((rc = get_party(in ? from : to, in ? "from" : "to", opts, rec, 1, msg))) return rc;
    if ((rc = get_party(in ? to : from, in ? "to" : "from", opts, rec, 0, msg))) return rc;

    json_t *recording = field(j, "recording");
    if (recording) {
        if (!json_is_object(recording))
            return err_set(msg, ERR_PARSE, "recording must be an object");
        /* contentUri is the media itself; uri is only the metadata resource. */
        const char *key = field(recording, "contentUri") ? "contentUri" : "uri";
        rc = get_str(recording, "recording", key, 0, rec->recording, sizeof rec->recording, msg);
        if (rc) return rc;
        if (rec->recording[0] && strncmp(rec->recording, "https://", 8) != 0 &&
            strncmp(rec->recording, "http://", 7) != 0)
            return err_set(msg, ERR_INVAL, "recording.%s '%.64s' is not an http(s) link", key,
                           rec->recording);
    }
    /* RingCentral's results for a call still going on; everything else has ended. */
    rec->status = strcmp(rec->result, "In Progress") == 0 || strcmp(rec->result, "Ringing") == 0
                      ? ST_ACTIVE
                      : ST_UNLOGGED;
    return 0;
}

static int parse_sms(const json_t *j, const struct import_opts *opts, struct call_rec *rec,
                     char *msg)
{
    int rc;

    rec->type = CALL_SMS;
    rc = get_id(j, "id", rec->session_id, msg);
    if (rc < 0) return rc;
    if (rc == 0) return err_set(msg, ERR_PARSE, "missing id");
    memcpy(rec->record_id, rec->session_id, sizeof rec->record_id);
    if ((rc = get_direction(j, rec, msg))) return rc;
    if ((rc = get_time(j, "creationTime", &rec->start_ms, msg))) return rc;
    if ((rc = get_str(j, NULL, "subject", 0, rec->text, sizeof rec->text, msg))) return rc;
    if ((rc = get_id(j, "conversationId", rec->conversation_id, msg)) < 0) return rc;

    /* Message-store `to` is a list of recipients; the first one is the other party of an
     * outbound message (group messages are logged against it) and our own number on an
     * inbound one. */
    json_t *from = field(j, "from"), *to = field(j, "to"), *to0 = NULL;
    if (to) {
        if (!json_is_array(to)) return err_set(msg, ERR_PARSE, "to must be an array");
        to0 = json_array_get(to, 0);
    }
    int in = rec->direction == DIR_INBOUND;
    if ((rc = get_party(in ? from : to0, in ? "from" : "to[0]", opts, rec, 1, msg))) return rc;
    if ((rc = get_party(in ? to0 : from, in ? "to[0]" : "from", opts, rec, 0, msg))) return rc;
    rec->status = ST_UNLOGGED;
    return 0;
}

/* Turns one record object into rec. Returns 0 (with *skip 1 for types not imported) or an
 * error with a bare message in msg (no location; callers add it). */
static int parse_record(const json_t *j, const struct import_opts *opts, struct call_rec *rec,
                        int *skip, char *msg)
{
    json_t *t = field(j, "type");
    *skip = 0;
    if (!t) return err_set(msg, ERR_PARSE, "missing type");
    if (!json_is_string(t)) return err_set(msg, ERR_PARSE, "type must be a string");
    const char *type = json_string_value(t);
    int voice = strcmp(type, "Voice") == 0, sms = !voice && strcmp(type, "SMS") == 0;
    /* Fax (from either API), VoiceMail and Pager messages, and whatever types RingCentral
     * adds later are not calls or SMS crmlog logs. */
    if (!voice && !sms) {
        *skip = 1;
        return 0;
    }
    memset(rec, 0, sizeof *rec);
    rec->user_id = opts->user_id;
    return voice ? parse_voice(j, opts, rec, msg) : parse_sms(j, opts, rec, msg);
}

/* The record's id for error messages, "" when it has none. */
static void record_id_text(const json_t *j, char *out, size_t len)
{
    json_t *v = json_is_object(j) ? json_object_get(j, "id") : NULL;
    if (json_is_integer(v))
        snprintf(out, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_string(v))
        snprintf(out, len, "%.*s", IMPORT_ID_SHOWN, json_string_value(v));
    else
        out[0] = '\0';
}

/* ---- driving ------------------------------------------------------------------------- */

struct import_run {
    const char *name;
    const struct import_opts *opts;
    import_cb cb;
    void *ctx;
    struct import_stats *stats;
    char *err;
};

/* jansson reports running out of memory as a parse error, or, where an allocation fails
 * deep in the parser, as no error at all (empty text); crmlog keeps them apart. */
static int json_fail(const json_error_t *je)
{
    return json_error_code(je) == json_error_out_of_memory || je->text[0] == '\0' ? ERR_NOMEM
                                                                                  : ERR_PARSE;
}

static const char *json_fail_text(const json_error_t *je)
{
    return je->text[0] ? je->text : "out of memory";
}

/* Parses one record into rec (*skip for types not imported), with the error saying where:
 * line > 0 names a JSON Lines line, else index names the record's place in a document.
 * err is ERR_LEN bytes. */
static int parse_one(const struct import_run *run, const json_t *j, long line, size_t index,
                     struct call_rec *rec, int *skip, char *err)
{
    char msg[ERR_LEN], id[IMPORT_ID_SHOWN + 1];
    int rc;

    if (!json_is_object(j))
        rc = err_set(msg, ERR_PARSE, "a record must be a JSON object");
    else
        rc = parse_record(j, run->opts, rec, skip, msg);
    if (rc) {
        record_id_text(j, id, sizeof id);
        if (line > 0 && id[0])
            return err_set(err, rc, "%s:%ld: record id %s: %s", run->name, line, id, msg);
        if (line > 0) return err_set(err, rc, "%s:%ld: %s", run->name, line, msg);
        if (id[0]) return err_set(err, rc, "%s: record %zu (id %s): %s", run->name, index, id, msg);
        return err_set(err, rc, "%s: record %zu: %s", run->name, index, msg);
    }
    return 0;
}

/* Counts a parsed record and hands it to the callback. */
static int deliver(struct import_run *run, const struct call_rec *rec, int skip)
{
    run->stats->records++;
    if (skip) {
        run->stats->skipped++;
        return 0;
    }
    if (rec->type == CALL_SMS)
        run->stats->sms++;
    else
        run->stats->calls++;
    return run->cb ? run->cb(rec, run->ctx, run->err) : 0;
}

static int import_one(struct import_run *run, const json_t *j, long line, size_t index)
{
    struct call_rec rec;
    int skip = 0;
    int rc = parse_one(run, j, line, index, &rec, &skip, run->err);
    return rc ? rc : deliver(run, &rec, skip);
}

/* ---- the two-stage pipeline for long JSON Lines ---------------------------------------
 * Parsing (JSON and phone numbers) and the callback (a store insert) each take about half
 * of a record's time; on a machine with two cores they run at once: a parser thread fills
 * chunks of records, the caller's thread hands them to the callback in file order. Memory
 * stays bounded (PIPE_CHUNKS chunks). Short inputs never start the thread. */
#define PIPE_AFTER 2000 /* lines read on the caller's thread before the pipeline starts */
#define PIPE_CHUNK 64   /* records per chunk */
#define PIPE_CHUNKS 6   /* chunks in flight */

struct pipe_chunk {
    size_t n;
    struct call_rec rec[PIPE_CHUNK];
    unsigned char skip[PIPE_CHUNK];
};

struct pipe {
    struct import_run *run;
    struct reader *r;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct pipe_chunk *chunks; /* ring of PIPE_CHUNKS */
    size_t head, count;        /* next chunk to consume, chunks ready */
    int done;                  /* the parser finished (rc says how) */
    int stop;                  /* the consumer gave up: the parser stops */
    int rc;                    /* the parser's result */
    char err[ERR_LEN];         /* the parser's message */
};

/* Parses lines into one chunk; returns 1 to go on, 0 at the end, or an error. */
static int pipe_fill(struct pipe *p, struct pipe_chunk *ch)
{
    struct reader *r = p->r;
    json_error_t je;
    ch->n = 0;
    while (ch->n < PIPE_CHUNK) {
        const char *line;
        size_t len;
        int got = reader_next(r, &line, &len);
        if (got < 0) {
            if (got == ERR_TOOBIG)
                return err_set(p->err, got, "%s:%ld: line is longer than %d bytes", p->run->name,
                               r->line + 1, IMPORT_LINE_MAX);
            return err_set(p->err, got, "%s:%ld: %s", p->run->name, r->line + 1,
                           got == ERR_IO ? "read error" : err_str(got));
        }
        if (got == 0) return 0;
        if (is_blank(line, len)) continue;
        json_t *j = json_loadb(line, len, 0, &je);
        if (!j)
            return err_set(p->err, json_fail(&je), "%s:%ld:%d: %s", p->run->name, r->line,
                           je.column, json_fail_text(&je));
        int skip = 0, rc;
        if (!json_is_object(j))
            rc = err_set(p->err, ERR_PARSE, "%s:%ld: expected one record object per line",
                         p->run->name, r->line);
        else
            rc = parse_one(p->run, j, r->line, 0, &ch->rec[ch->n], &skip, p->err);
        json_decref(j);
        if (rc) return rc;
        ch->skip[ch->n++] = (unsigned char)skip;
    }
    return 1;
}

static void *pipe_parser(void *arg)
{
    struct pipe *p = arg;
    int rc = 1;
    while (rc == 1) {
        pthread_mutex_lock(&p->lock);
        while (p->count == PIPE_CHUNKS && !p->stop)
            pthread_cond_wait(&p->changed, &p->lock);
        int stop = p->stop;
        size_t slot = (p->head + p->count) % PIPE_CHUNKS;
        pthread_mutex_unlock(&p->lock);
        if (stop) break;
        /* The slot is ours until published: the consumer only reads published chunks. */
        rc = pipe_fill(p, &p->chunks[slot]);
        pthread_mutex_lock(&p->lock);
        if (p->chunks[slot].n > 0) p->count++; /* records before an error still count */
        if (rc != 1) {
            p->done = 1;
            p->rc = rc;
        }
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

/* Runs the rest of a JSON Lines input through the pipeline. Returns 0, the callback's
 * error (run->err set by it) or the parser's (copied to run->err), whichever comes first
 * in the file. */
static int import_pipelined(struct import_run *run, struct reader *r)
{
    struct pipe p = {.run = run, .r = r};
    p.chunks = mem_alloc(PIPE_CHUNKS * sizeof *p.chunks);
    if (!p.chunks) return err_set(run->err, ERR_NOMEM, "%s: out of memory", run->name);
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.changed, NULL);
    pthread_t tid;
    int rc = 0;
    if (pthread_create(&tid, NULL, pipe_parser, &p)) {
        rc = err_set(run->err, ERR_NOMEM, "%s: cannot start the parser thread", run->name);
        goto out;
    }
    for (;;) {
        pthread_mutex_lock(&p.lock);
        while (p.count == 0 && !p.done)
            pthread_cond_wait(&p.changed, &p.lock);
        if (p.count == 0) { /* done, everything consumed */
            pthread_mutex_unlock(&p.lock);
            if (p.rc < 0) {
                memcpy(run->err, p.err, ERR_LEN);
                rc = p.rc;
            }
            break;
        }
        struct pipe_chunk *ch = &p.chunks[p.head];
        pthread_mutex_unlock(&p.lock);
        for (size_t i = 0; i < ch->n && !rc; i++)
            rc = deliver(run, &ch->rec[i], ch->skip[i]);
        pthread_mutex_lock(&p.lock);
        p.head = (p.head + 1) % PIPE_CHUNKS;
        p.count--;
        if (rc) p.stop = 1;
        pthread_cond_broadcast(&p.changed);
        pthread_mutex_unlock(&p.lock);
        if (rc) break;
    }
    pthread_join(tid, NULL);
out:
    pthread_cond_destroy(&p.changed);
    pthread_mutex_destroy(&p.lock);
    mem_free(p.chunks);
    return rc;
}

/* Whole-document mode: the data already read (from `from` in the reader's buffer, after
 * `blank` blank lines) plus the rest of the stream, loaded in one piece. */
static int import_document(struct import_run *run, struct reader *r, size_t from, long blank)
{
    struct buf doc;
    json_error_t je;
    json_t *root = NULL;
    int rc = 0;

    buf_init(&doc, IMPORT_DOC_MAX);
    /* Blank lines stand in for the ones already consumed, so jansson's line numbers are
     * the file's. */
    for (long i = 0; i < blank && rc == 0; i++)
        rc = buf_append(&doc, "\n", 1);
    if (rc == 0) rc = buf_append(&doc, r->buf + from, r->end - from);
    while (rc == 0 && !r->eof) {
        size_t got = fread(r->buf, 1, r->size, r->in);
        if (got == 0) {
            if (ferror(r->in)) {
                rc = err_set(run->err, ERR_IO, "%s: read error", run->name);
                goto out;
            }
            r->eof = 1;
        }
        rc = buf_append(&doc, r->buf, got);
    }
    if (rc == ERR_TOOBIG) {
        rc = err_set(run->err, rc, "%s: document is larger than %d MiB", run->name,
                     IMPORT_DOC_MAX >> 20);
        goto out;
    }
    if (rc) {
        rc = err_set(run->err, rc, "%s: %s", run->name, err_str(rc));
        goto out;
    }

    root = json_loadb(doc.data, doc.len, 0, &je);
    buf_free(&doc); /* jansson has its own copy; do not hold both */
    if (!root) {
        rc = err_set(run->err, json_fail(&je), "%s:%d:%d: %s", run->name, je.line, je.column,
                     json_fail_text(&je));
        goto out;
    }
    json_t *records = json_is_array(root) ? root : json_object_get(root, "records");
    if (!json_is_array(records)) {
        rc = err_set(run->err, ERR_PARSE, "%s: expected a \"records\" array or an array of records",
                     run->name);
        goto out;
    }
    size_t i;
    json_t *j;
    json_array_foreach(records, i, j)
    {
        if ((rc = import_one(run, j, 0, i + 1))) goto out;
    }
out:
    buf_free(&doc);
    json_decref(root);
    return rc;
}

int import_stream(FILE *in, const char *name, const struct import_opts *opts, import_cb cb,
                  void *ctx, struct import_stats *stats, char *err)
{
    static const struct import_opts defaults = {0};
    struct import_stats local_stats;
    struct import_run run = {name ? name : "-", opts ? opts : &defaults, cb, ctx, stats, err};
    struct reader r = {.in = in, .size = IMPORT_READER_START};
    const char *line = NULL;
    size_t len = 0;
    long blank = 0;
    json_t *first = NULL;
    json_error_t je;
    int rc;

    if (!run.stats) run.stats = &local_stats;
    memset(run.stats, 0, sizeof *run.stats);
    r.buf = mem_alloc(r.size);
    if (!r.buf) return err_set(err, ERR_NOMEM, "%s: out of memory", run.name);

    /* Detection: the first non-blank line is a whole record in JSON Lines; anything else
     * (a response on one line, an array, the first line of a pretty-printed document, a
     * first line too long for JSON Lines) means one document. */
    while ((rc = reader_next(&r, &line, &len)) == 1 && is_blank(line, len))
        blank++;
    if (rc == ERR_TOOBIG) {
        rc = import_document(&run, &r, r.start, blank);
        goto out;
    }
    if (rc < 0) goto io;
    if (rc == 0) goto out; /* no records at all */
    if (r.line == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
        line += 3; /* a UTF-8 byte order mark, as Windows tools write */
        len -= 3;
    }
    first = json_loadb(line, len, 0, &je);
    if (!first && json_fail(&je) == ERR_NOMEM) {
        rc = err_set(err, ERR_NOMEM, "%s: out of memory", run.name);
        goto out;
    }
    if (!first || json_is_array(first) || json_object_get(first, "records")) {
        rc = import_document(&run, &r, (size_t)(line - r.buf), blank);
        goto out;
    }

    /* JSON Lines. */
    rc = import_one(&run, first, r.line, 0);
    json_decref(first);
    first = NULL;
    while (rc == 0) {
        if (r.line >= PIPE_AFTER && cb) {
            rc = import_pipelined(&run, &r);
            break;
        }
        int got = reader_next(&r, &line, &len);
        if (got <= 0) {
            rc = got;
            if (rc) goto io;
            break;
        }
        if (is_blank(line, len)) continue;
        json_t *j = json_loadb(line, len, 0, &je);
        if (!j) {
            rc = err_set(err, json_fail(&je), "%s:%ld:%d: %s", run.name, r.line, je.column,
                         json_fail_text(&je));
            goto out;
        }
        if (!json_is_object(j))
            rc = err_set(err, ERR_PARSE, "%s:%ld: expected one record object per line", run.name,
                         r.line);
        else
            rc = import_one(&run, j, r.line, 0);
        json_decref(j);
    }
    goto out;
io:
    /* Reader errors name the line being read, one past the last one returned. */
    if (rc == ERR_TOOBIG)
        rc = err_set(err, rc, "%s:%ld: line is longer than %d bytes", run.name, r.line + 1,
                     IMPORT_LINE_MAX);
    else
        rc = err_set(err, rc, "%s:%ld: %s", run.name, r.line + 1,
                     rc == ERR_IO ? "read error" : err_str(rc));
out:
    json_decref(first);
    mem_free(r.buf);
    return rc;
}

int import_record_text(const char *text, size_t len, const struct import_opts *opts,
                       struct call_rec *out, int *skip, char *err)
{
    static const struct import_opts defaults = {0};
    json_error_t je;
    char msg[ERR_LEN], id[IMPORT_ID_SHOWN + 1];
    int rc;

    *skip = 0;
    json_t *j = json_loadb(text, len, 0, &je);
    if (!j)
        return err_set(err, json_fail(&je), "%d:%d: %s", je.line, je.column, json_fail_text(&je));
    if (!json_is_object(j))
        rc = err_set(msg, ERR_PARSE, "a record must be a JSON object");
    else
        rc = parse_record(j, opts ? opts : &defaults, out, skip, msg);
    if (rc) {
        record_id_text(j, id, sizeof id);
        if (id[0])
            err_set(err, rc, "record id %s: %s", id, msg);
        else
            err_set(err, rc, "%s", msg);
    }
    json_decref(j);
    return rc;
}
