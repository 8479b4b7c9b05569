/* JSON views of crmlog's objects, shared by the command line and the HTTP API so both show
 * the same shapes (docs/cli.md, docs/api.md). Every function returns a new reference the
 * caller owns (json_decref), or NULL with err set. */
#ifndef CRMLOG_VIEW_H
#define CRMLOG_VIEW_H

#include <jansson.h>

#include "buf.h"
#include "logger.h"

/* A view keeps match results per number for its lifetime (one command, one request), so
 * a history with the same number a thousand times asks the CRM once. */
typedef struct view view;

/* lg is borrowed and must outlive the view. */
int view_open(struct logger *lg, view **out, char *err);
void view_close(view *v);

/* {id, session_id, type, direction, number, start_time, duration, result, recording,
 *  contact, matches, status, reason, log_id, note, past_retention, internal, …}. Matching
 * is live for calls not yet logged; a logged call shows the contact it was logged to. */
json_t *view_call(view *v, const struct call_rec *c, char *err);
/* The same with the note already at hand (NULL for none): no store read. */
json_t *view_call_noted(view *v, const struct call_rec *c, const char *note, char *err);
/* The same object as view_call_noted, written as JSON text at the end of b: a history page
 * writes its calls this way. On error b is as it was. */
int view_call_put(view *v, const struct call_rec *c, const char *note, struct buf *b, char *err);
/* {call, reason, candidates} for an unresolved call. */
json_t *view_unresolved(view *v, const struct call_rec *c, char *err);

/* {id, name, phones, associations}; assocs may be NULL (none listed). */
json_t *view_contact(const struct crm_contact *c, const struct crm_assoc_list *assocs);
/* The same, listing the contact's associations through the connector. */
json_t *view_contact_full(crm *c, const struct crm_contact *contact, char *err);
/* {id, contact_id, association_id, kind, subject, body, session_id, fields} */
json_t *view_activity(const struct crm_activity *a);
/* [{name, label, choices, required}] of the connector's declared log fields. */
json_t *view_fields(const crm *c);
/* [{id, name}] candidates of a conflict. */
json_t *view_candidates(const struct log_plan *plan);
/* {KEY: VALUE} of the user's effective settings. */
json_t *view_settings(store *s, int64_t user, char *err);

#endif
