#!/usr/bin/env bash
# Notes and manual logging: note saved at once and sent in the log body; log lands on the one
# matched contact with note, date/time, duration, result and recording link; the three
# conflicts (exit 3 with reason and candidates, nothing changed) and their resolutions
# (--new-contact, --contact, --association); log fields; log once (exit 4); past calls;
# log by session id or crmlog id.
source "$(dirname "$0")/lib.bash" "$@"

alice=$(add_contact "Alice Johnson" "(650) 555-0101")
dana=$(add_contact "Dana Lee" "650.555.0123")
sam=$(add_contact "Sam Lee" "+1 650 555 0123")
cl contacts add --json --name "Carol Deals" --phone "+1 415 555 0130" \
    --association "Acme renewal" --association "Acme expansion"
[[ $RC -eq 0 ]] || fail "adding Carol"
carol=$(jqv "$OUT" .id)
renewal=$(jqv "$OUT" '.associations[] | select(.name == "Acme renewal") | .id')
expansion=$(jqv "$OUT" '.associations[] | select(.name == "Acme expansion") | .id')
cl contacts add --json --name "Eve Single" --phone "+1 415 555 0140" --association "Eve's order"
[[ $RC -eq 0 ]] || fail "adding Eve"
eve=$(jqv "$OUT" .id)
eve_deal=$(jqv "$OUT" '.associations[0].id')
must import "$(render call_log.json)"

# activity_of SESSION: the activity logged for that session (null when none).
activity_of() {
    activities_json | jq -c --arg s "$1" 'map(select(.session_id == $s)) | .[0]'
}
# log_body_time CALL_JSON: a regex for the call's start date and time (to the minute) as a
# log body may write it: "YYYY-MM-DD HH:MM" or "YYYY-MM-DDTHH:MM".
log_body_time() {
    jqv "$1" '.start_time[0:10] + "[ T]" + .start_time[11:16]'
}

# ---- fields ------------------------------------------------------------------------------------
cl fields --json
expect_rc 0 "fields --json"
expect_jq "$OUT" 'map(select(.name == "disposition")) | length == 1' "fields lists disposition"
expect_jq "$OUT" '(.[] | select(.name == "disposition") | .choices) == ["connected","left voicemail","no answer","busy","wrong number"]' \
    "disposition has its 5 choices"
cl fields
expect_rc 0 "fields (text)"
expect_contains "$OUT" "left voicemail" "text fields show the choices"

# ---- notes -------------------------------------------------------------------------------------
out_id=$(call_id 700000002)
cl note "$out_id" "first draft"
expect_rc 0 "note CALL TEXT"
c=$(call_by_session 700000002)
expect_jq "$c" '.note == "first draft"' "note visible at once in calls --json"
must note 700000002 'Wants the "Pro" plan; call back Friday, 3pm.'
c=$(call_by_session 700000002)
expect_jq "$c" '.note == "Wants the \"Pro\" plan; call back Friday, 3pm."' \
    "note by session id replaces the previous one (quotes kept)"

must note 700000001 "$(printf 'Zoë — ☺ "quoted"\nsecond line')"
c=$(call_by_session 700000001)
expect_jq "$c" '.note == "Zoë — ☺ \"quoted\"\nsecond line"' "a note with UTF-8, quotes and a newline round-trips"

# ---- log to the one matched contact, with a field, by session id -------------------------------
nact=$(nactivities)
expect_eq "$nact" 0 "no activities before logging"
cl log --json --field "disposition=left voicemail" 700000002
expect_rc 0 "log by telephony session id"
expect_jq "$OUT" ".status == \"logged\" and .contact == {\"id\":\"$alice\",\"name\":\"Alice Johnson\"} and .log_id != null" \
    "log --json shows the call logged to Alice with its log id"
log_id=$(jqv "$OUT" .log_id)
c=$(call_by_session 700000002)
expect_jq "$c" ".status == \"logged\" and .log_id == \"$log_id\" and .contact.id == \"$alice\"" \
    "calls --json: status logged, log_id, contact"
a=$(activity_of 700000002)
expect_jq "$a" ".id == \"$log_id\" and .contact_id == \"$alice\" and .kind == \"call\" and .association_id == null" \
    "the activity is on Alice, kind call, no association"
expect_jq "$a" '.body | contains("Wants the \"Pro\" plan; call back Friday, 3pm.")' "the body contains the note"
expect_jq "$a" ".body | test(\"$(log_body_time "$c")\")" "the body has the call's date/time"
expect_jq "$a" '.body | test("1m 0?2s|1:02|\\b62 ?s")' "the body has the duration (62 s)"
expect_jq "$a" '.body | contains("Call connected")' "the body has the result"
expect_jq "$a" '.subject | test("Outbound"; "i")' "the subject says outbound"
expect_jq "$a" '.fields == {"disposition":"left voicemail"}' "disposition=left voicemail lands in the activity fields"
n=$(activities_json --contact "$alice" | jq length)
expect_eq "$n" 1 "activities --contact lists it for Alice"

# ---- logging again: exit 4, nothing changes --------------------------------------------------
snap=$(snapshot)
cl log 700000002
expect_rc 4 "logging a logged call again: exit 4"
expect_one_line_error "already-logged error is one line"
cl log --json --contact "$dana" "$out_id"
expect_rc 4 "logging it again by crmlog id with another contact: exit 4"
cl note "$out_id" "changed my mind"
expect_rc 4 "note on a logged call refused (exit 4, as docs/cli.md says)"
expect_unchanged "$snap" "nothing changed: same activities, same note"

# ---- no contact: exit 3, then --new-contact -------------------------------------------------
snap=$(snapshot)
cl log --json 700000001
expect_rc 3 "no contact: exit 3"
expect_jq "$OUT" '. == {"reason":"no_contact","candidates":[]}' "--json: {reason: no_contact, candidates: []}"
cl log 700000001
expect_rc 3 "no contact (text): exit 3"
expect_contains "$ERR" "no_contact" "stderr says no_contact"
expect_unchanged "$snap" "no contact: nothing changed"
cl contacts find --json "16504445567"
expect_jq "$OUT" '. == []' "no contact: no contact was created"

cl log --json --note "Bob asked about pricing" 700000001
expect_rc 3 "log --note with no contact: exit 3"
c=$(call_by_session 700000001)
expect_jq "$c" '.note == "Bob asked about pricing" and .status == "unlogged"' \
    "--note is kept although the log needed a choice"

cl log --json --new-contact "Bob Buyer" 700000001
expect_rc 0 "--new-contact NAME logs"
bob=$(jqv "$OUT" .contact.id)
expect_jq "$OUT" '.status == "logged" and .contact.name == "Bob Buyer"' "logged to the new contact"
cl contacts find --json "16504445567"
expect_jq "$OUT" "length == 1 and .[0].id == \"$bob\" and .[0].name == \"Bob Buyer\" and .[0].phones == [\"+16504445567\"]" \
    "contacts find the call's number shows the placeholder contact"
a=$(activity_of 700000001)
expect_jq "$a" ".contact_id == \"$bob\"" "the activity is on the new contact"
expect_jq "$a" '.body | contains("https://media.ringcentral.com/restapi/v1.0/account/400131424008/recording/2084113001/content")' \
    "the body has the recording link"
expect_jq "$a" '(.body | test("2m 0?5s|2:05|\\b125 ?s")) and (.body | contains("Accepted"))' "the body has duration and result"
expect_jq "$a" '.body | contains("Bob asked about pricing")' "the note saved by the refused attempt is in the log"

# ---- --new-contact refused when contacts match -------------------------------------------------
snap=$(snapshot)
cl log --new-contact "Another Lee" 700000003
[[ $RC -ne 0 ]] || fail "--new-contact should be refused when contacts match"
ok "--new-contact refused when contacts already match (exit $RC)"
expect_unchanged "$snap" "refused --new-contact: nothing changed"

# ---- several contacts: exit 3 with both, then --contact ---------------------------------------
cl log --json 700000003
expect_rc 3 "several contacts: exit 3"
expect_jq "$OUT" '.reason == "multiple_contacts"' "reason multiple_contacts"
expect_jq "$OUT" "(.candidates | sort_by(.id)) == ([{\"id\":\"$dana\",\"name\":\"Dana Lee\"},{\"id\":\"$sam\",\"name\":\"Sam Lee\"}] | sort_by(.id))" \
    "both candidates with id and name"
cl log 700000003
expect_rc 3 "several contacts (text): exit 3"
expect_contains "$ERR" "Dana Lee" "stderr lists Dana"
expect_contains "$ERR" "Sam Lee" "stderr lists Sam"
expect_unchanged "$snap" "several contacts: nothing changed"
cl log --json --contact "$sam" 700000003
expect_rc 0 "--contact ID logs"
expect_jq "$OUT" ".contact == {\"id\":\"$sam\",\"name\":\"Sam Lee\"} and .status == \"logged\"" "logged to Sam"
a=$(activity_of 700000003)
expect_jq "$a" ".contact_id == \"$sam\"" "Sam's activity"

# ---- several associations: exit 3 with candidates, then --association ---------------------------
snap=$(snapshot)
cl log --json 700000006
expect_rc 3 "several associations: exit 3"
expect_jq "$OUT" '.reason == "multiple_associations"' "reason multiple_associations"
expect_jq "$OUT" "(.candidates | sort_by(.id)) == ([{\"id\":\"$renewal\",\"name\":\"Acme renewal\"},{\"id\":\"$expansion\",\"name\":\"Acme expansion\"}] | sort_by(.id))" \
    "both associations as candidates"
expect_unchanged "$snap" "several associations: nothing changed"
cl log --json --association "no-such-deal" 700000006
[[ $RC -ne 0 ]] || fail "an association that is not the contact's should be refused"
ok "an association not of this contact is refused (exit $RC)"
expect_unchanged "$snap" "bad association: nothing changed"
cl log --json --association "$expansion" 700000006
expect_rc 0 "--association ID logs"
a=$(activity_of 700000006)
expect_jq "$a" ".contact_id == \"$carol\" and .association_id == \"$expansion\"" "activity has that association_id"
cl calls --json
expect_jq "$OUT" '.[] | select(.session_id == "700000006") | .association == {"id": "'"$expansion"'", "name": "Acme expansion"}' \
    "the logged call shows its association by name"

# ---- exactly one association is chosen by itself ----------------------------------------------
cl log --json 700000007
expect_rc 0 "contact with one association logs without a choice"
a=$(activity_of 700000007)
expect_jq "$a" ".contact_id == \"$eve\" and .association_id == \"$eve_deal\"" "the one association is used"

# ---- no contact resolved with --contact ----------------------------------------------------------
cl log --contact "$alice" 700000004
expect_rc 0 "no-contact call logged with --contact ID"
expect_contains "$OUT" "Alice Johnson" "text output names the contact"
a=$(activity_of 700000004)
expect_jq "$a" ".contact_id == \"$alice\"" "activity on the chosen contact"

# ---- bad fields: refused, nothing logged ---------------------------------------------------------
old_id=$(call_id 700000008)
snap=$(snapshot)
cl log --field "disposition=maybe later" "$old_id"
[[ $RC -ne 0 && $RC -ne 3 ]] || fail "a bad disposition value should be an error"
ok "bad disposition value refused (exit $RC)"
cl log --field "mood=happy" "$old_id"
[[ $RC -ne 0 && $RC -ne 3 ]] || fail "an unknown field should be an error"
ok "unknown field refused (exit $RC)"
cl log --field "disposition" "$old_id"
[[ $RC -ne 0 ]] || fail "--field without = should be refused"
ok "--field without NAME=VALUE refused (exit $RC)"
expect_unchanged "$snap" "bad fields: nothing logged"

# ---- a past call (120 days old), by crmlog id ------------------------------------------------------
c=$(call_by_session 700000008)
expect_jq "$c" '.past_retention == true' "the 120-day-old call is past retention"
cl log --json --note "old call, logged late" --field disposition=connected "$old_id"
expect_rc 0 "past call logged by crmlog id"
expect_jq "$OUT" ".id == $old_id and .status == \"logged\" and .note == \"old call, logged late\"" "logged, with the --note"
a=$(activity_of 700000008)
expect_jq "$a" ".contact_id == \"$alice\" and .fields.disposition == \"connected\"" "past call's activity with its field"
expect_jq "$a" '.body | contains("old call, logged late")' "--note goes into the body"
expect_jq "$a" ".body | test(\"$(log_body_time "$c")\")" "the body has the old call's date/time"

# ---- a note typed during an active call reaches the log ----------------------------------------
must import "$(render active.jsonl)"
must note 750000001 "typed while talking"
cl log 750000001
[[ $RC -ne 0 ]] || fail "an active call should not be logged yet"
ok "active call is not logged yet (exit $RC)"
must import "$(render ended.jsonl)"
cl log --json 750000001
expect_rc 0 "the call, ended, logs"
a=$(activity_of 750000001)
expect_jq "$a" '.body | contains("typed while talking")' "the note typed during the call is in the log"
expect_jq "$a" '.body | test("3m 0?5s|3:05|\\b185 ?s")' "with the final duration"

total=$(nactivities)
expect_eq "$total" 8 "8 activities in all, one per logged call"

done_testing
