#include "logger.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "mem.h"

int logger_init(struct logger *lg, store *st, crm *c, const struct user *user, char *err)
{
    memset(lg, 0, sizeof *lg);
    lg->st = st;
    lg->crm = c;
    lg->user = *user;
    return settings_load(st, user->id, &lg->settings, err);
}

static int has_contact(const struct crm_contact_list *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i].id, id) == 0) return 1;
    return 0;
}

int logger_match(struct logger *lg, const char *e164, struct crm_contact_list *out, char *err)
{
    memset(out, 0, sizeof *out);
    if (!e164 || !*e164) return 0;
    int rc = lg->crm->ops->find_contacts(lg->crm, e164, out, err);
    if (rc || !lg->crm->ops->exact_string_search) return rc;
    /* Exact-string CRMs: also the number as the user's formats write it. */
    for (size_t i = 0; i < lg->settings.nformats; i++) {
        char formatted[PHONE_FMT_LEN];
        if (phone_fill_mask(e164, lg->settings.formats[i], formatted, NULL))
            continue; /* the format does not fit this number */
        struct crm_contact_list more;
        rc = lg->crm->ops->find_contacts(lg->crm, formatted, &more, err);
        if (rc) return rc;
        for (size_t j = 0; j < more.n; j++) {
            if (has_contact(out, more.items[j].id)) continue;
            if (out->n < CRM_MAX_MATCHES) out->items[out->n++] = more.items[j];
            out->total++;
        }
    }
    return 0;
}

static int check_fields(struct logger *lg, const struct log_choice *choice, char *err)
{
    const struct crm_ops *ops = lg->crm->ops;
    size_t n = choice ? choice->nfields : 0;
    for (size_t i = 0; i < n; i++) {
        const struct crm_field *f = crm_field_find(lg->crm, choice->fields[i].name);
        if (!f) {
            char names[256] = "";
            size_t used = 0;
            for (size_t j = 0; j < ops->nfields && used < sizeof names; j++)
                used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", j ? ", " : "",
                                         ops->fields[j].name);
            return err_set(err, ERR_INVAL, "the %s CRM has no log field '%s' (fields: %s)",
                           ops->name, choice->fields[i].name, names);
        }
        int rc = crm_field_check(f, choice->fields[i].value, err);
        if (rc) return rc;
        for (size_t j = 0; j < i; j++)
            if (strcmp(choice->fields[j].name, f->name) == 0)
                return err_set(err, ERR_INVAL, "log field '%s' given twice", f->name);
    }
    for (size_t j = 0; j < ops->nfields; j++) {
        if (!ops->fields[j].required) continue;
        size_t i = 0;
        while (i < n && strcmp(choice->fields[i].name, ops->fields[j].name) != 0)
            i++;
        if (i == n)
            return err_set(err, ERR_INVAL, "the log field '%s' is required", ops->fields[j].name);
    }
    return 0;
}

int logger_plan(struct logger *lg, const struct call_rec *c, const struct log_choice *choice,
                struct log_plan *plan, char *err)
{
    memset(plan, 0, sizeof *plan);
    if (c->internal)
        return err_set(err, ERR_INVAL,
                       "call %lld is between two extensions; internal calls are not logged",
                       (long long)c->id);
    int rc = check_fields(lg, choice, err);
    if (rc) return rc;
    const char *want =
        choice && choice->contact_id && *choice->contact_id ? choice->contact_id : NULL;
    const char *new_name =
        choice && choice->new_contact && *choice->new_contact ? choice->new_contact : NULL;
    if (want && new_name)
        return err_set(err, ERR_INVAL, "give either a contact or a new contact name, not both");

    if (want) {
        if ((rc = lg->crm->ops->get_contact(lg->crm, want, &plan->contact, err))) return rc;
    } else {
        if ((rc = logger_match(lg, c->number, &plan->matches, err))) return rc;
        if (new_name) {
            if (!*c->number)
                return err_set(err, ERR_INVAL,
                               "call %lld has no number (caller id withheld), so a new contact "
                               "cannot get one; choose an existing contact",
                               (long long)c->id);
            if (plan->matches.total > 0)
                return err_set(err, ERR_INVAL,
                               "%zu contact(s) already have %s; choose one instead of creating "
                               "a new contact",
                               plan->matches.total, c->number);
            if (strlen(new_name) >= CALL_NAME_LEN)
                return err_set(err, ERR_INVAL, "the new contact's name is too long");
            snprintf(plan->new_contact, sizeof plan->new_contact, "%s", new_name);
        } else if (plan->matches.total == 0) {
            plan->reason = CONFLICT_NO_CONTACT;
            return 0;
        } else if (plan->matches.total > 1) {
            plan->reason = CONFLICT_MULTIPLE_CONTACTS;
            return 0;
        } else {
            plan->contact = plan->matches.items[0];
        }
    }

    const char *assoc =
        choice && choice->association_id && *choice->association_id ? choice->association_id : NULL;
    if (plan->new_contact[0]) {
        if (assoc)
            return err_set(err, ERR_INVAL, "a new contact has no associations to choose from");
        return 0;
    }
    rc = lg->crm->ops->list_associations(lg->crm, plan->contact.id, &plan->assocs, err);
    if (rc) return rc;
    if (assoc) {
        for (size_t i = 0; i < plan->assocs.n; i++) {
            if (strcmp(plan->assocs.items[i].id, assoc) == 0) {
                snprintf(plan->association_id, sizeof plan->association_id, "%s", assoc);
                snprintf(plan->association_name, sizeof plan->association_name, "%s",
                         plan->assocs.items[i].name);
                return 0;
            }
        }
        return err_set(err, ERR_INVAL, "association %s is not one of contact %s's", assoc,
                       plan->contact.id);
    }
    if (plan->assocs.total == 1) {
        snprintf(plan->association_id, sizeof plan->association_id, "%s", plan->assocs.items[0].id);
        snprintf(plan->association_name, sizeof plan->association_name, "%s",
                 plan->assocs.items[0].name);
    } else if (plan->assocs.total > 1) {
        plan->reason = CONFLICT_MULTIPLE_ASSOCIATIONS;
    }
    return 0;
}

static void format_duration(int secs, char *out, size_t len)
{
    if (secs >= 3600)
        snprintf(out, len, "%dh %02dm %02ds", secs / 3600, secs / 60 % 60, secs % 60);
    else if (secs >= 60)
        snprintf(out, len, "%dm %02ds", secs / 60, secs % 60);
    else
        snprintf(out, len, "%ds", secs);
}

int logger_compose(const struct call_rec *c, const char *note, char *subject, struct buf *body)
{
    char who[PHONE_FMT_LEN], when[32], dur[32];
    if (!*c->number || phone_format(c->number, 0, who, NULL))
        snprintf(who, sizeof who, "%s", *c->number ? c->number : "a withheld number");
    int out = c->direction == DIR_OUTBOUND;
    if (c->type == CALL_SMS)
        snprintf(subject, CALL_NAME_LEN, "SMS %s %s", out ? "to" : "from", who);
    else
        snprintf(subject, CALL_NAME_LEN, "%s call %s %s", out ? "Outbound" : "Inbound",
                 out ? "to" : "from", who);
    time_format(c->start_ms, when, sizeof when);
    when[10] = ' ';
    when[19] = '\0'; /* "2026-11-20 10:11:12" */
    format_duration(c->duration, dur, sizeof dur);
    int rc = 0;
    if (note && *note) rc |= buf_printf(body, "Notes: %s\n", note);
    rc |= buf_printf(body, "Date/time: %s UTC\n", when);
    if (c->type == CALL_SMS) {
        rc |= buf_printf(body, "Message: %s\n", c->text);
    } else {
        rc |= buf_printf(body, "Duration: %s\n", dur);
        if (*c->result) rc |= buf_printf(body, "Result: %s\n", c->result);
    }
    rc |= buf_printf(body, "Direction: %s\nNumber: %s\n", out ? "outbound" : "inbound", who);
    if (*c->recording) rc |= buf_printf(body, "Recording: %s\n", c->recording);
    return rc ? ERR_TOOBIG : 0;
}

int logger_write(struct logger *lg, const struct call_rec *c, const struct log_choice *choice,
                 struct log_plan *plan, char *err)
{
    const struct crm_ops *ops = lg->crm->ops;
    char *note = NULL, subject[CALL_NAME_LEN], key[2 * CALL_ID_LEN];
    struct buf body;
    buf_init(&body, 2 * NOTE_MAX);
    int rc = 0;
    if (plan->new_contact[0]) {
        rc = ops->create_contact(lg->crm, plan->new_contact, c->number, &plan->contact, err);
        if (rc) goto out;
    }
    /* Read after the claim: notes are refused while a claim is held, so the text read here
     * is the last one accepted. */
    if ((rc = store_note_get(lg->st, lg->user.id, c->id, &note, err))) goto out;
    if ((rc = logger_compose(c, note, subject, &body))) {
        err_set(err, rc, "the log of call %lld is too long", (long long)c->id);
        goto out;
    }
    snprintf(key, sizeof key, "crmlog:%lld:%s:%s", (long long)lg->user.id,
             c->type == CALL_SMS ? "sms" : "call", c->session_id);
    struct crm_log log = {
        .kind = c->type == CALL_SMS ? CRM_LOG_SMS : CRM_LOG_CALL,
        .user_id = lg->user.id,
        .user_name = lg->user.name,
        .key = key,
        .contact_id = plan->contact.id,
        .association_id = plan->association_id,
        .subject = subject,
        .body = body.data,
        .call = c,
        .nfields = choice ? choice->nfields : 0,
        .fields = choice ? choice->fields : NULL,
    };
    rc = (c->type == CALL_SMS ? ops->log_sms : ops->log_call)(lg->crm, &log, plan->log_id, err);
out:
    mem_free(note);
    buf_free(&body);
    return rc;
}

json_t *logger_candidates(const struct log_plan *plan)
{
    int assocs = plan->reason == CONFLICT_MULTIPLE_ASSOCIATIONS;
    size_t n = assocs ? plan->assocs.n : plan->matches.n;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        const char *id = assocs ? plan->assocs.items[i].id : plan->matches.items[i].id;
        const char *name = assocs ? plan->assocs.items[i].name : plan->matches.items[i].name;
        if (json_array_append_new(arr, json_pack("{s:s,s:s}", "id", id, "name", name))) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

char *logger_candidates_json(const struct log_plan *plan)
{
    json_t *arr = logger_candidates(plan);
    char *text = arr ? json_dumps(arr, JSON_COMPACT) : NULL;
    json_decref(arr);
    return text;
}

int logger_log(struct logger *lg, const char *call_ref, const struct log_choice *choice,
               struct log_plan *plan, struct call_rec *call, char *err)
{
    int64_t user = lg->user.id;
    int rc = store_call_get(lg->st, user, call_ref, call, err);
    if (rc) return rc;
    if (call->status == ST_LOGGED)
        return err_set(err, ERR_ALREADY,
                       "call %lld is already logged (activity %s); edit it in the CRM",
                       (long long)call->id, call->log_id);
    if (call->status == ST_ACTIVE)
        return err_set(err, ERR_BUSY, "call %lld is still active; log it when it ends",
                       (long long)call->id);
    if (choice && choice->note) {
        if (strlen(choice->note) > NOTE_MAX)
            return err_set(err, ERR_INVAL, "the note is longer than %d bytes", NOTE_MAX);
        if ((rc = store_note_set(lg->st, user, call->id, choice->note, err))) return rc;
    }
    if ((rc = logger_plan(lg, call, choice, plan, err))) return rc;
    if (plan->reason != CONFLICT_NONE)
        return err_set(err, ERR_CONFLICT, "call %lld needs a choice: %s", (long long)call->id,
                       conflict_str(plan->reason));
    if ((rc = store_call_claim(lg->st, user, call->id, LOGGER_LEASE_MS, err))) return rc;
    rc = logger_write(lg, call, choice, plan, err);
    if (rc) {
        /* Give it back as it was, so nothing is dropped; the error is what the person sees. */
        store_call_unclaim(lg->st, user, call->id, 0, NULL);
        return rc;
    }
    rc = store_call_set_logged(lg->st, user, call->id, plan->log_id, plan->contact.id,
                               plan->contact.name, plan->association_id, plan->association_name,
                               err);
    if (rc) return rc;
    call->status = ST_LOGGED;
    call->reason = CONFLICT_NONE;
    memcpy(call->log_id, plan->log_id, sizeof call->log_id);
    memcpy(call->contact_id, plan->contact.id, sizeof call->contact_id);
    memcpy(call->contact_name, plan->contact.name, sizeof call->contact_name);
    memcpy(call->association_id, plan->association_id, sizeof call->association_id);
    memcpy(call->association_name, plan->association_name, sizeof call->association_name);
    return 0;
}
