/* Import of calls and SMS from files in RingCentral's own shapes:
 *  - a call-log response:      {"records":[{id, sessionId, startTime, duration, type:"Voice",
 *                               direction, action, result, from{…}, to{…}, recording{…}}…]}
 *  - a message-store response: {"records":[{id, type:"SMS", direction, from{…}, to[{…}],
 *                               creationTime, subject, conversationId}…]}
 *  - JSON Lines: one such record (call or message) per line, for bulk.
 * The parser only turns text into call records; the caller decides where they go. */
#ifndef CRMLOG_IMPORT_H
#define CRMLOG_IMPORT_H

#include <stddef.h>
#include <stdio.h>

#include "../core/call.h"

struct import_opts {
    int64_t user_id;    /* owner stamped on every record */
    const char *region; /* for national numbers; NULL means "US" */
};

struct import_stats {
    size_t records; /* records read */
    size_t calls;   /* voice calls handed to the callback */
    size_t sms;     /* SMS handed to the callback */
    size_t skipped; /* records of other types (Fax, VoiceMail, Pager…), not imported */
};

/* Called once per record that becomes a call_rec. Returning non-zero stops the import
 * with that code (the callback fills err). */
typedef int (*import_cb)(const struct call_rec *rec, void *ctx, char *err);

/* Reads all of `in` (name is used in messages, e.g. the file name or "-"), calling cb for
 * each record. On a malformed document, record or number, returns ERR_PARSE or ERR_INVAL
 * with err saying where: "calls.jsonl:12:5: …" (line:column) or "calls.json: record 3
 * (id 123): …". Records already passed to cb are the caller's to undo (import in one
 * transaction). Memory stays bounded for JSON Lines of any length. */
int import_stream(FILE *in, const char *name, const struct import_opts *opts, import_cb cb,
                  void *ctx, struct import_stats *stats, char *err);

/* Parses one record given as JSON text (len bytes). *skip is set to 1 (and out untouched)
 * for records of types crmlog does not import. Exposed for tests and fuzzing. */
int import_record_text(const char *text, size_t len, const struct import_opts *opts,
                       struct call_rec *out, int *skip, char *err);

#endif
