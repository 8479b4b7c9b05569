#include "view.h"

#include <stdio.h>
#include <string.h>

#include "err.h"
#include "mem.h"

struct match_memo {
    char number[PHONE_LEN];
    size_t total;
    char id[CALL_ID_LEN];
    char name[CALL_NAME_LEN];
};
/* Enough for a page of history; a longer walk (the CLI's whole history) just asks again
 * for numbers that collide. Small, so a request's view costs no page mapping. */
#define VIEW_MEMO_SLOTS 128

struct view {
    struct logger *lg;
    int64_t now;
    int reading; /* a CRM read group is open */
    struct match_memo memo[VIEW_MEMO_SLOTS];
};

int view_open(struct logger *lg, view **out, char *err)
{
    *out = mem_alloc(sizeof **out);
    if (!*out) return err_set(err, ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < VIEW_MEMO_SLOTS; i++)
        (*out)->memo[i].number[0] = '\0';
    (*out)->lg = lg;
    (*out)->now = time_now_ms();
    /* A view makes many lookups: one read group for all of them, when the CRM has it. */
    crm *c = lg->crm;
    (*out)->reading = c->ops->read_begin && c->ops->read_begin(c, NULL) == 0;
    return 0;
}

void view_close(view *v)
{
    if (v && v->reading) v->lg->crm->ops->read_end(v->lg->crm);
    mem_free(v);
}

static int match_cached(view *v, const char *number, struct match_memo **out, char *err)
{
    size_t h = 5381;
    for (const char *p = number; *p; p++)
        h = h * 33 + (unsigned char)*p;
    struct match_memo *m = &v->memo[h % VIEW_MEMO_SLOTS];
    if (strcmp(m->number, number) != 0) {
        struct crm_contact_list l;
        int rc = logger_match(v->lg, number, &l, err);
        if (rc) return rc;
        snprintf(m->number, sizeof m->number, "%s", number);
        m->total = l.total;
        m->id[0] = m->name[0] = '\0';
        if (l.n) {
            snprintf(m->id, sizeof m->id, "%s", l.items[0].id);
            snprintf(m->name, sizeof m->name, "%s", l.items[0].name);
        }
    }
    *out = m;
    return 0;
}

json_t *view_call(view *v, const struct call_rec *c, char *err)
{
    char *note = NULL;
    if (store_note_get(v->lg->st, v->lg->user.id, c->id, &note, err)) return NULL;
    json_t *j = view_call_noted(v, c, note, err);
    mem_free(note);
    return j;
}

json_t *view_call_noted(view *v, const struct call_rec *c, const char *note, char *err)
{
    char when[32];
    time_format(c->start_ms, when, sizeof when);
    json_t *contact = json_null();
    size_t matches = 0;
    if (*c->number && !c->internal) {
        struct match_memo *m;
        if (match_cached(v, c->number, &m, err)) return NULL;
        matches = m->total;
        if (c->status != ST_LOGGED && m->total == 1)
            contact = json_pack("{s:s,s:s}", "id", m->id, "name", m->name);
    }
    if (c->status == ST_LOGGED && *c->contact_id) {
        json_decref(contact);
        contact = json_pack("{s:s,s:s}", "id", c->contact_id, "name", c->contact_name);
    }
    const char *reason = c->status == ST_UNRESOLVED ? conflict_str(c->reason) : NULL;
    json_t *j = json_pack(
        "{s:I,s:s,s:s,s:s,s:s?,s:s,s:i,s:s?,s:s?,s:o,s:I,s:s,s:s?,s:s?,s:s?,s:b,s:b}", "id",
        (json_int_t)c->id, "session_id", c->session_id, "type", call_type_str(c->type), "direction",
        call_dir_str(c->direction), "number", *c->number ? c->number : NULL, "start_time", when,
        "duration", c->duration, "result", *c->result ? c->result : NULL, "recording",
        *c->recording ? c->recording : NULL, "contact", contact, "matches", (json_int_t)matches,
        "status", call_status_str(c->status), "reason", reason, "log_id",
        *c->log_id ? c->log_id : NULL, "note", note, "past_retention",
        call_past_retention(c, v->now), "internal", c->internal);
    if (!j) {
        err_set(err, ERR_NOMEM, "out of memory (or text that is not UTF-8) showing call %lld",
                (long long)c->id);
        return NULL;
    }
    if (c->internal && *c->extension)
        json_object_set_new(j, "extension", json_string(c->extension));
    if (c->type == CALL_SMS) json_object_set_new(j, "text", json_string(c->text));
    /* Where a logged call went: the association, by name (null when none). */
    json_object_set_new(
        j, "association",
        c->status == ST_LOGGED && *c->association_id
            ? json_pack("{s:s,s:s}", "id", c->association_id, "name", c->association_name)
            : json_null());
    if (c->queued) json_object_set_new(j, "queued", json_true());
    if (*c->error) json_object_set_new(j, "error", json_string(c->error));
    if (*c->party_name) json_object_set_new(j, "name", json_string(c->party_name));
    return j;
}

json_t *view_unresolved(view *v, const struct call_rec *c, char *err)
{
    char *cands = NULL;
    if (store_call_candidates(v->lg->st, v->lg->user.id, c->id, &cands, err)) return NULL;
    json_t *cj = json_loads(cands, 0, NULL);
    mem_free(cands);
    json_t *call = view_call(v, c, err);
    if (!call) {
        json_decref(cj);
        return NULL;
    }
    return json_pack("{s:o,s:s?,s:o}", "call", call, "reason", conflict_str(c->reason),
                     "candidates", cj ? cj : json_array());
}

json_t *view_contact(const struct crm_contact *c, const struct crm_assoc_list *assocs)
{
    json_t *phones = json_array();
    for (size_t i = 0; i < c->nphones; i++)
        json_array_append_new(phones, json_string(c->phones[i]));
    json_t *as = json_array();
    for (size_t i = 0; assocs && i < assocs->n; i++)
        json_array_append_new(
            as, json_pack("{s:s,s:s}", "id", assocs->items[i].id, "name", assocs->items[i].name));
    return json_pack("{s:s,s:s,s:o,s:o}", "id", c->id, "name", c->name, "phones", phones,
                     "associations", as);
}

json_t *view_contact_full(crm *c, const struct crm_contact *contact, char *err)
{
    struct crm_assoc_list assocs;
    if (c->ops->list_associations(c, contact->id, &assocs, err)) return NULL;
    return view_contact(contact, &assocs);
}

json_t *view_activity(const struct crm_activity *a)
{
    json_t *fields = json_loads(a->fields_json ? a->fields_json : "{}", 0, NULL);
    return json_pack("{s:s,s:s,s:s?,s:s,s:s,s:s,s:s,s:o}", "id", a->id, "contact_id", a->contact_id,
                     "association_id",
                     a->association_id && *a->association_id ? a->association_id : NULL, "kind",
                     a->kind, "subject", a->subject, "body", a->body, "session_id", a->session_id,
                     "fields", fields ? fields : json_object());
}

json_t *view_fields(const crm *c)
{
    const struct crm_ops *ops = c->ops;
    json_t *arr = json_array();
    for (size_t k = 0; arr && k < ops->nfields; k++) {
        const struct crm_field *f = &ops->fields[k];
        json_t *choices = f->choices ? json_array() : json_null();
        for (size_t i = 0; f->choices && f->choices[i]; i++)
            json_array_append_new(choices, json_string(f->choices[i]));
        json_array_append_new(arr,
                              json_pack("{s:s,s:s,s:o,s:b}", "name", f->name, "label", f->label,
                                        "choices", choices, "required", f->required));
    }
    return arr;
}

json_t *view_candidates(const struct log_plan *plan)
{
    return logger_candidates(plan);
}

json_t *view_settings(store *s, int64_t user, char *err)
{
    json_t *obj = json_object();
    for (size_t k = 0; obj && k < settings_ndefs; k++) {
        char val[SETTING_VALUE_LEN];
        if (settings_get(s, user, settings_defs[k].key, val, err)) {
            json_decref(obj);
            return NULL;
        }
        json_object_set_new(obj, settings_defs[k].key, json_string(val));
    }
    return obj;
}
