/* The logger: matches a call to a CRM contact, composes its log (subject, notes, date/time,
 * duration, result, recording link), resolves conflicts and writes it exactly once.
 * It reaches the CRM only through the connector interface and crmlog's data only through
 * the store. */
#ifndef CRMLOG_LOGGER_H
#define CRMLOG_LOGGER_H

#include <jansson.h>
#include <stddef.h>

#include "../crm/crm.h"
#include "../store/store.h"
#include "buf.h"
#include "settings.h"

/* How long a claim on a call lasts: long enough for the slowest CRM write. An expired claim
 * (a crashed process) is taken over, and connectors' idempotent writes keep it once. */
#define LOGGER_LEASE_MS (5 * 60 * 1000)

struct logger {
    store *st; /* borrowed */
    crm *crm;  /* borrowed */
    struct user user;
    struct settings settings;
};

/* A person's choices for a manual log; every pointer may be NULL. */
struct log_choice {
    const char *note;           /* replaces the saved note first (so it is never lost) */
    const char *contact_id;     /* log to this contact */
    const char *new_contact;    /* no contact matched: create a placeholder with this name */
    const char *association_id; /* one of the contact's associations */
    size_t nfields;
    struct crm_field_value fields[CRM_MAX_FIELDS];
};

/* The plan for one call: who it goes to, or why it cannot go without a person. */
struct log_plan {
    int reason;                      /* enum conflict; CONFLICT_NONE when it can be logged */
    struct crm_contact_list matches; /* reason no_contact/multiple_contacts: the candidates */
    struct crm_assoc_list assocs;    /* reason multiple_associations: the candidates */
    struct crm_contact contact;      /* the chosen contact (unless new_contact) */
    char new_contact[CALL_NAME_LEN]; /* non-empty: create this placeholder at write time */
    char association_id[CALL_ID_LEN];
    char association_name[CALL_NAME_LEN];
    /* after the write */
    char log_id[CALL_ID_LEN];
};

/* Loads the user's settings into lg. */
int logger_init(struct logger *lg, store *st, crm *c, const struct user *user, char *err);

/* The contacts whose phone matches the call's number: the number as E.164 first, then,
 * for CRMs whose search is exact-string, the user's phone formats (deduplicated). */
int logger_match(struct logger *lg, const char *e164, struct crm_contact_list *out, char *err);

/* Decides where the call goes, reading only. A conflict is not an error: plan->reason says
 * it. Bad choices (unknown contact, foreign association, a new contact where contacts
 * match) are ERR_INVAL / ERR_NOTFOUND. choice may be NULL. */
int logger_plan(struct logger *lg, const struct call_rec *c, const struct log_choice *choice,
                struct log_plan *plan, char *err);

/* Writes a planned call (claimed by the caller) to the CRM: creates the placeholder contact
 * if planned, reads the saved note, composes and writes the log. Fills plan->log_id. */
int logger_write(struct logger *lg, const struct call_rec *c, const struct log_choice *choice,
                 struct log_plan *plan, char *err);

/* A manual log, the whole way: saves choice->note, plans, claims, writes, marks logged.
 * ERR_CONFLICT with plan->reason and the candidates when a person's choice is missing;
 * ERR_ALREADY when the call is logged (nothing changes). *call receives the call, as
 * logged on success. */
int logger_log(struct logger *lg, const char *call_ref, const struct log_choice *choice,
               struct log_plan *plan, struct call_rec *call, char *err);

/* Candidates of a conflict as a JSON array [{"id":…,"name":…}] (json_decref it), or as its
 * compact text (free it with mem_free; jansson allocates it). NULL when out of memory. */
json_t *logger_candidates(const struct log_plan *plan);
char *logger_candidates_json(const struct log_plan *plan);

/* Notes are capped so a log always fits what CRMs accept. */
#define NOTE_MAX 32768

/* The log's subject (CALL_NAME_LEN bytes) and body (appended to body) for a call with that
 * note (may be NULL). */
int logger_compose(const struct call_rec *c, const char *note, char *subject, struct buf *body);

#endif
