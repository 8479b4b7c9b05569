/* libFuzzer target for the import parser: the input as one record, and as a whole file
 * (JSON Lines or a document, whichever detection picks). Records handed out must be
 * well-formed: every string terminated inside its field, enums in range. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sources/import.h"

#define TERMINATED(field) (strnlen((field), sizeof(field)) < sizeof(field))

static void check(const struct call_rec *r)
{
    if (!TERMINATED(r->session_id) || !TERMINATED(r->record_id) || !TERMINATED(r->number) ||
        !TERMINATED(r->extension) || !TERMINATED(r->party_name) || !TERMINATED(r->own_number) ||
        !TERMINATED(r->result) || !TERMINATED(r->action) || !TERMINATED(r->recording) ||
        !TERMINATED(r->text) || !TERMINATED(r->conversation_id))
        abort();
    if ((r->type != CALL_VOICE && r->type != CALL_SMS) ||
        (r->direction != DIR_INBOUND && r->direction != DIR_OUTBOUND) || r->duration < 0 ||
        r->session_id[0] == '\0' || r->user_id != 5)
        abort();
    /* Internal calls carry an extension and no number; others no extension. */
    if (r->internal ? (r->number[0] || !r->extension[0]) : r->extension[0] != '\0') abort();
    if (r->number[0] && r->number[0] != '+') abort();
    if (r->recording[0] && strncmp(r->recording, "http", 4) != 0) abort();
}

static int on_record(const struct call_rec *rec, void *ctx, char *err)
{
    (void)err;
    check(rec);
    ++*(size_t *)ctx;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct import_opts opts = {.user_id = 5};
    static struct call_rec rec;
    char err[ERR_LEN];
    int skip;

    err[0] = '\0';
    if (import_record_text((const char *)data, size, &opts, &rec, &skip, err) == 0 && !skip)
        check(&rec);
    else if (err[0] == '\0' && !skip)
        abort(); /* every failure says why */

    /* fmemopen wants a writable buffer and, on older C libraries, a non-zero size. */
    char *copy = malloc(size + 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    FILE *f = fmemopen(copy, size ? size : 1, "rb");
    if (f) {
        struct import_stats st;
        size_t n = 0;
        err[0] = '\0';
        int rc = import_stream(f, "fuzz", &opts, on_record, &n, &st, err);
        if (rc == 0 && n != st.calls + st.sms) abort();
        if (rc == 0 && st.records != st.calls + st.sms + st.skipped) abort();
        if (rc != 0 && strncmp(err, "fuzz", 4) != 0) abort(); /* errors say where */
        fclose(f);
    }
    free(copy);
    return 0;
}
