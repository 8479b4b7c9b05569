#!/usr/bin/env bash
# Auto-log: off does nothing; on logs every call without conflict and queues conflicts as
# unresolved with reason and candidates; unresolved --json and resolving by log; form-only
# mode leaves calls in review for log CALL; catch-up of 2,000 calls in one pass.
source "$(dirname "$0")/lib.bash" "$@"

# setup_store: contacts and the call log in the current $DB.
setup_store() {
    alice=$(add_contact "Alice Johnson" "(650) 555-0101")
    bob=$(add_contact "Bob Buyer" "650-444-5567")
    dana=$(add_contact "Dana Lee" "650.555.0123")
    sam=$(add_contact "Sam Lee" "+1 650 555 0123")
    cl contacts add --json --name "Carol Deals" --phone "+1 415 555 0130" \
        --association "Acme renewal" --association "Acme expansion"
    [[ $RC -eq 0 ]] || fail "adding Carol"
    carol=$(jqv "$OUT" .id)
    expansion=$(jqv "$OUT" '.associations[] | select(.name == "Acme expansion") | .id')
    cl contacts add --json --name "Eve Single" --phone "+1 415 555 0140" --association "Eve's order"
    [[ $RC -eq 0 ]] || fail "adding Eve"
    eve_deal=$(jqv "$OUT" '.associations[0].id')
    must import "$call_log"
    must import "$active"
}
call_log=$(render call_log.json)
active=$(render active.jsonl)
setup_store

# ---- auto_log off: the pass does nothing -----------------------------------------------------
s=$(settings_json)
expect_jq "$s" '.auto_log == "off"' "auto_log is off by default"
snap=$(snapshot)
cl autolog --json
expect_rc 0 "autolog with auto_log off exits 0"
expect_jq "$OUT" '. == {"logged":0,"unresolved":0,"review":0,"failed":0}' "auto_log off: nothing logged"
expect_contains "$ERR" "auto_log" "stderr says auto_log is off"
expect_unchanged "$snap" "auto_log off: nothing changed"

# ---- auto_log on ----------------------------------------------------------------------------
must settings set auto_log on
cl autolog --json
expect_rc 0 "autolog with auto_log on"
expect_jq "$OUT" '.logged == 4 and .unresolved == 3 and .review == 0 and .failed == 0' \
    "4 calls without conflict logged, 3 conflicts unresolved"
calls=$(calls_json)
for s in 700000001 700000002 700000007 700000008; do
    expect_jq "$calls" "(.[] | select(.session_id == \"$s\") | .status) == \"logged\"" "call $s logged"
done
expect_jq "$calls" '(.[] | select(.session_id == "700000003") | [.status, .reason]) == ["unresolved","multiple_contacts"]' \
    "shared number: unresolved, multiple_contacts"
expect_jq "$calls" '(.[] | select(.session_id == "700000004") | [.status, .reason]) == ["unresolved","no_contact"]' \
    "unknown number: unresolved, no_contact"
expect_jq "$calls" '(.[] | select(.session_id == "700000006") | [.status, .reason]) == ["unresolved","multiple_associations"]' \
    "two deals: unresolved, multiple_associations"
expect_jq "$calls" '(.[] | select(.session_id == "700000005") | .status) == "unlogged"' "internal call skipped"
expect_jq "$calls" '(.[] | select(.session_id == "750000001") | .status) == "active"' "active call left active"
acts=$(activities_json)
expect_jq "$acts" 'length == 4' "4 activities"
expect_jq "$acts" "(.[] | select(.session_id == \"700000007\") | .association_id) == \"$eve_deal\"" \
    "auto-log picks the one association by itself"
expect_jq "$acts" "(.[] | select(.session_id == \"700000001\") | .contact_id) == \"$bob\"" "Bob's call on Bob"

cl autolog --json
expect_jq "$OUT" '.logged == 0 and .unresolved == 0' "a second pass does nothing new"
n=$(nactivities)
expect_eq "$n" 4 "still 4 activities"

# ---- caller id withheld: kept, unresolved no_contact, logged with --contact ---------------
cl import --json "$(render withheld.jsonl)"
expect_rc 0 "calls with no number import"
expect_jq "$OUT" '.added == 2' "both withheld calls kept"
cl autolog --json
expect_jq "$OUT" '.unresolved == 2 and .logged == 0' "withheld calls go to unresolved"
for s in 760000001 760000002; do
    c=$(call_by_session $s)
    expect_jq "$c" '.number == null and .internal == false and .status == "unresolved" and .reason == "no_contact"' \
        "withheld call $s: no number, not internal, unresolved no_contact"
done
snap=$(snapshot)
cl log --new-contact "Mystery" 760000001
[[ $RC -ne 0 ]] || fail "--new-contact for a call without a number should be refused"
ok "--new-contact refused for a withheld number (exit $RC)"
expect_unchanged "$snap" "refused: nothing changed"
cl log --json --contact "$alice" 760000001
expect_rc 0 "withheld call logged with --contact"
expect_jq "$OUT" ".status == \"logged\" and .contact.id == \"$alice\"" "logged to the chosen contact"
cl log --json --contact "$alice" 760000002
expect_rc 0 "the other withheld call too"
cl autolog --json
expect_jq "$OUT" '.logged == 0 and .unresolved == 0' "nothing left for autolog"
n=$(nactivities)
expect_eq "$n" 6 "6 activities: 4 auto-logged, 2 withheld logged by hand"

# ---- unresolved ----------------------------------------------------------------------------
cl unresolved --json
expect_rc 0 "unresolved --json"
u=$OUT
expect_jq "$u" 'length == 3 and all(.[]; has("call") and has("reason") and has("candidates"))' \
    "3 entries of {call, reason, candidates}"
expect_jq "$u" '(.[] | select(.call.session_id == "700000004")) | .reason == "no_contact" and .candidates == []' \
    "no_contact entry, no candidates"
expect_jq "$u" "(.[] | select(.call.session_id == \"700000003\")) | .reason == \"multiple_contacts\" and (.candidates | sort_by(.id)) == ([{\"id\":\"$dana\",\"name\":\"Dana Lee\"},{\"id\":\"$sam\",\"name\":\"Sam Lee\"}] | sort_by(.id))" \
    "multiple_contacts entry with both contacts"
expect_jq "$u" '(.[] | select(.call.session_id == "700000006")) | .reason == "multiple_associations" and ([.candidates[].name] | sort) == ["Acme expansion","Acme renewal"]' \
    "multiple_associations entry with both deals"
expect_jq "$u" 'all(.[]; .call.status == "unresolved")' "the call objects say unresolved"
cl unresolved
expect_rc 0 "unresolved (text)"
expect_contains "$OUT" "multiple_contacts" "text lists the reasons"

cl log --contact "$dana" 700000003
expect_rc 0 "resolve multiple_contacts with --contact"
cl unresolved --json
expect_jq "$OUT" 'length == 2 and all(.[]; .call.session_id != "700000003")' "it left the unresolved list"
cl log --new-contact "Walk-in Caller" 700000004
expect_rc 0 "resolve no_contact with --new-contact"
cl unresolved --json
expect_jq "$OUT" 'length == 1 and .[0].call.session_id == "700000006"' "it left the unresolved list"
cl log --association "$expansion" 700000006
expect_rc 0 "resolve multiple_associations with --association"
cl unresolved --json
expect_jq "$OUT" '. == []' "unresolved is empty"
calls=$(calls_json)
expect_jq "$calls" '[.[] | select(.status == "unlogged" or .status == "unresolved") | .session_id] == ["700000005"]' \
    "only the internal call is not logged"
acts=$(activities_json)
expect_jq "$acts" "length == 9 and (.[] | select(.session_id == \"700000006\") | .association_id) == \"$expansion\"" \
    "9 activities (7 + 2 withheld), the resolved association used"

# ---- form-only: calls wait in review --------------------------------------------------------
DB="$dir/review.db"
setup_store
must settings set auto_log on
must settings set auto_log_form_only on
cl autolog --json
expect_rc 0 "autolog with auto_log_form_only on"
expect_jq "$OUT" '.review == 4 and .logged == 0 and .unresolved == 3' "4 calls to review, none logged, conflicts unresolved"
n=$(nactivities)
expect_eq "$n" 0 "form-only: nothing written to the CRM"
r=$(calls_json --status review)
expect_jq "$r" 'length == 4 and all(.[]; .status == "review")' "calls --status review lists them"
cl autolog --json
expect_jq "$OUT" '.review == 0 and .logged == 0' "a second pass leaves review calls alone"
rid=$(call_id 700000002)
cl log --json "$rid"
expect_rc 0 "log CALL confirms a review call"
expect_jq "$OUT" ".status == \"logged\" and .contact.id == \"$alice\"" "it is logged to its contact"
r=$(calls_json --status review)
expect_jq "$r" 'length == 3' "3 left in review"
n=$(nactivities)
expect_eq "$n" 1 "one activity"

# ---- log once, whatever runs at the same time --------------------------------------------
DB="$dir/race.db"
alice=$(add_contact "Alice Johnson" "(650) 555-0101")
race="$dir/race.jsonl"
base=$((NOW_EPOCH - 86400))
for ((k = 0; k < 30; k++)); do
    TZ=UTC printf -v t '%(%Y-%m-%dT%H:%M:%S.000Z)T' $((base + k * 60))
    printf '{"id":"RC-%d","sessionId":"%d","startTime":"%s","duration":9,"type":"Voice","direction":"Inbound","result":"Accepted","from":{"phoneNumber":"+16505550101"},"to":{"phoneNumber":"+16505550100"}}\n' \
        "$k" $((810000000 + k)) "$t"
done >"$race"
must import "$race"
# Six "double clicks" on the same call at once: one log, the others refused.
for i in 1 2 3 4 5 6; do
    (set +e; "$CRMLOG" --db "$DB" log 810000000 >"$dir/race.$i.out" 2>"$dir/race.$i.err"; echo $? >"$dir/race.$i.rc") &
done
wait
nrc=$(ls "$dir"/race.*.rc | wc -l)
[[ $nrc -eq 6 ]] || fail "only $nrc of the 6 parallel logs reported an exit code"
codes=$(cat "$dir"/race.*.rc | sort | tr '\n' ' ')
n0=$(grep -lx 0 "$dir"/race.*.rc | wc -l)
[[ $n0 -eq 1 ]] || fail "6 parallel logs of one call: $n0 succeeded, expected 1 (exit codes: $codes)"
ok "6 parallel logs of one call: exactly one succeeded (exit codes: $codes)"
bad=$(grep -Lx -e 0 -e 4 -e 1 "$dir"/race.*.rc | wc -l)
[[ $bad -eq 0 ]] || fail "parallel logs: unexpected exit codes: $codes"
ok "the others were refused (4 already logged, or 1 try again)"
n=$(nactivities)
expect_eq "$n" 1 "one activity for the call"
# Three autolog passes and manual logs at once: every call logged exactly once.
must settings set auto_log on
for i in 1 2 3; do
    (set +e; "$CRMLOG" --db "$DB" autolog --json >"$dir/pass.$i.out" 2>"$dir/pass.$i.err"; echo $? >"$dir/pass.$i.rc") &
done
for k in 1 2 3 4; do
    ("$CRMLOG" --db "$DB" log $((810000000 + k)) >/dev/null 2>&1 || true) &
done
wait
for i in 1 2 3; do
    [[ $(<"$dir/pass.$i.rc") -eq 0 ]] || fail "parallel autolog pass $i exited $(<"$dir/pass.$i.rc"): $(<"$dir/pass.$i.err")"
done
ok "three parallel autolog passes exit 0"
total=$(cat "$dir"/pass.*.out | jq -s 'map(.logged) | add')
[[ $total -le 29 ]] || fail "parallel autolog passes logged $total calls in all, but only 29 were left"
ok "the passes logged at most the 29 calls left ($total)"
l=$(calls_json --status logged | jq length)
expect_eq "$l" 30 "all 30 calls logged"
acts=$(activities_json)
expect_jq "$acts" 'length == 30 and ([.[].session_id] | unique | length) == 30' "30 activities, one per call"

# ---- catch-up: 2,000 calls in one pass ----------------------------------------------------
DB="$dir/catchup.db"
alice=$(add_contact "Alice Johnson" "(650) 555-0101")
big="$dir/catchup.jsonl"
base=$((NOW_EPOCH - 3 * 86400))
for ((k = 0; k < 2000; k++)); do
    TZ=UTC printf -v t '%(%Y-%m-%dT%H:%M:%S.000Z)T' $((base + k * 60))
    printf '{"id":"CU-%d","sessionId":"%d","startTime":"%s","duration":%d,"type":"Voice","direction":"%s","result":"Accepted","from":{"phoneNumber":"+16505550100"},"to":{"phoneNumber":"+16505550101"}}\n' \
        "$k" $((800000000 + k)) "$t" $((k % 600)) Outbound
done >"$big"
n=$(wc -l <"$big")
expect_eq "$n" 2000 "generated 2,000 JSON Lines"
cl import --json "$big"
expect_rc 0 "import 2,000 calls"
expect_jq "$OUT" '.calls == 2000 and .added == 2000' "2,000 added"
must settings set auto_log on
cl autolog --json
expect_rc 0 "one autolog pass"
expect_jq "$OUT" '.logged == 2000 and .unresolved == 0 and .failed == 0' "the pass logged all 2,000"
l=$(calls_json --status logged | jq length)
u=$(calls_json --status unlogged | jq length)
expect_eq "$l" 2000 "2,000 calls logged"
expect_eq "$u" 0 "none unlogged"
n=$(nactivities)
expect_eq "$n" 2000 "2,000 activities, one per call"

done_testing
