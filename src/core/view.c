#include "view.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "jw.h"
#include "mem.h"

/* What a number lookup answered, remembered in the CRM handle (crm->memo) so a history page
 * does not ask again for numbers it showed before. An answer holds while the CRM's contacts
 * version (read in the view's snapshot) is the one it was found under; a CRM without
 * versions gets a new negative version per view, so its answers last one view. */
struct match_memo {
    char number[PHONE_LEN];
    int64_t user;
    int64_t version;
    size_t total;
    char id[CALL_ID_LEN];
    char name[CALL_NAME_LEN];
};
/* Direct-mapped: about 450 kB per handle, enough for the numbers of many pages. */
#define VIEW_MEMO_SLOTS 1024

struct view {
    struct logger *lg;
    int64_t now;
    int64_t version;
    int reading; /* a CRM read group is open */
    struct match_memo *memo;
};

static _Atomic int64_t unversioned; /* the last version given to a view of a CRM without */

int view_open(struct logger *lg, view **out, char *err)
{
    crm *c = lg->crm;
    if (!c->memo && !(c->memo = mem_calloc(VIEW_MEMO_SLOTS, sizeof *c->memo)))
        return err_set(err, ERR_NOMEM, "out of memory");
    view *v = *out = mem_alloc(sizeof **out);
    if (!v) return err_set(err, ERR_NOMEM, "out of memory");
    v->lg = lg;
    v->now = time_now_ms();
    v->memo = c->memo;
    /* A view makes many lookups: one read group for all of them, when the CRM has it. */
    v->reading = c->ops->read_begin && c->ops->read_begin(c, NULL) == 0;
    if (!c->ops->contacts_version || c->ops->contacts_version(c, &v->version, NULL) != 0)
        v->version = -(atomic_fetch_add(&unversioned, 1) + 1);
    return 0;
}

void view_close(view *v)
{
    if (v && v->reading) v->lg->crm->ops->read_end(v->lg->crm);
    mem_free(v);
}

static int match_cached(view *v, const char *number, struct match_memo **out, char *err)
{
    int64_t user = v->lg->user.id;
    size_t h = 5381;
    for (const char *p = number; *p; p++)
        h = h * 33 + (unsigned char)*p;
    struct match_memo *m = &v->memo[(h + (size_t)user) % VIEW_MEMO_SLOTS];
    if (m->version != v->version || m->user != user || strcmp(m->number, number) != 0) {
        struct crm_contact_list l;
        int rc = logger_match(v->lg, number, &l, err);
        if (rc) return rc;
        snprintf(m->number, sizeof m->number, "%s", number);
        m->user = user;
        m->version = v->version;
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
    struct buf b;
    buf_init(&b, (size_t)1 << 30);
    json_t *j = NULL;
    if (view_call_put(v, c, note, &b, err) == 0) {
        j = json_loadb(b.data, b.len, 0, NULL);
        if (!j) err_set(err, ERR_NOMEM, "out of memory showing call %lld", (long long)c->id);
    }
    buf_free(&b);
    return j;
}

/* {"id": …, "name": …} */
static int put_ref(struct buf *b, const char *id, const char *name)
{
    int rc = jw_raw(b, "{\"id\":");
    if (!rc) rc = jw_str(b, id);
    if (!rc) rc = jw_raw(b, ",\"name\":");
    if (!rc) rc = jw_str(b, name);
    return rc ? rc : jw_raw(b, "}");
}

int view_call_put(view *v, const struct call_rec *c, const char *note, struct buf *b, char *err)
{
    char when[32];
    time_format(c->start_ms, when, sizeof when);
    struct match_memo *m = NULL;
    int rc = *c->number && !c->internal ? match_cached(v, c->number, &m, err) : 0;
    if (rc) return rc;
    const char *reason = c->status == ST_UNRESOLVED ? conflict_str(c->reason) : NULL;
    size_t start = b->len;
    rc = jw_raw(b, "{\"id\":");
    if (!rc) rc = jw_int(b, c->id);
    if (!rc) rc = jw_raw(b, ",\"session_id\":");
    if (!rc) rc = jw_str(b, c->session_id);
    if (!rc) rc = jw_raw(b, ",\"type\":");
    if (!rc) rc = jw_str(b, call_type_str(c->type));
    if (!rc) rc = jw_raw(b, ",\"direction\":");
    if (!rc) rc = jw_str(b, call_dir_str(c->direction));
    if (!rc) rc = jw_raw(b, ",\"number\":");
    if (!rc) rc = jw_str_or_null(b, c->number);
    if (!rc) rc = jw_raw(b, ",\"start_time\":");
    if (!rc) rc = jw_str(b, when);
    if (!rc) rc = jw_raw(b, ",\"duration\":");
    if (!rc) rc = jw_int(b, c->duration);
    if (!rc) rc = jw_raw(b, ",\"result\":");
    if (!rc) rc = jw_str_or_null(b, c->result);
    if (!rc) rc = jw_raw(b, ",\"recording\":");
    if (!rc) rc = jw_str_or_null(b, c->recording);
    /* The contact: where a logged call went, else the only match (null when none or many). */
    if (!rc) rc = jw_raw(b, ",\"contact\":");
    if (rc) {
    } else if (c->status == ST_LOGGED && *c->contact_id) {
        rc = put_ref(b, c->contact_id, c->contact_name);
    } else if (c->status != ST_LOGGED && m && m->total == 1) {
        rc = put_ref(b, m->id, m->name);
    } else {
        rc = jw_raw(b, "null");
    }
    if (!rc) rc = jw_raw(b, ",\"matches\":");
    if (!rc) rc = jw_int(b, m ? (int64_t)m->total : 0);
    if (!rc) rc = jw_raw(b, ",\"status\":");
    if (!rc) rc = jw_str(b, call_status_str(c->status));
    if (!rc) rc = jw_raw(b, ",\"reason\":");
    if (!rc) rc = reason ? jw_str(b, reason) : jw_raw(b, "null");
    if (!rc) rc = jw_raw(b, ",\"log_id\":");
    if (!rc) rc = jw_str_or_null(b, c->log_id);
    if (!rc) rc = jw_raw(b, ",\"note\":");
    if (!rc) rc = note ? jw_str(b, note) : jw_raw(b, "null");
    if (!rc) rc = jw_raw(b, ",\"past_retention\":");
    if (!rc) rc = jw_bool(b, call_past_retention(c, v->now));
    if (!rc) rc = jw_raw(b, ",\"internal\":");
    if (!rc) rc = jw_bool(b, c->internal);
    if (!rc && c->internal && *c->extension) {
        rc = jw_raw(b, ",\"extension\":");
        if (!rc) rc = jw_str(b, c->extension);
    }
    if (!rc && c->type == CALL_SMS) {
        rc = jw_raw(b, ",\"text\":");
        if (!rc) rc = jw_str(b, c->text);
    }
    /* Where a logged call went: the association, by name (null when none). */
    if (!rc) rc = jw_raw(b, ",\"association\":");
    if (!rc)
        rc = c->status == ST_LOGGED && *c->association_id
                 ? put_ref(b, c->association_id, c->association_name)
                 : jw_raw(b, "null");
    if (!rc && c->queued) rc = jw_raw(b, ",\"queued\":true");
    if (!rc && *c->error) {
        rc = jw_raw(b, ",\"error\":");
        if (!rc) rc = jw_str(b, c->error);
    }
    if (!rc && *c->party_name) {
        rc = jw_raw(b, ",\"name\":");
        if (!rc) rc = jw_str(b, c->party_name);
    }
    if (!rc) rc = jw_raw(b, "}");
    if (!rc) return 0;
    b->len = start; /* nothing of a call that could not be written */
    if (b->data) b->data[start] = '\0';
    return err_set(err, rc,
                   rc == ERR_INVAL ? "call %lld has text that is not UTF-8"
                                   : "out of memory showing call %lld",
                   (long long)c->id);
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
