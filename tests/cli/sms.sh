#!/usr/bin/env bash
# SMS logging: one activity per contact per UTC day holding that day's messages; importing
# again and re-running autolog never adds a message twice; a later message of the same day
# joins that day's activity; two days give two activities, two contacts two activities.
source "$(dirname "$0")/lib.bash" "$@"

alice=$(add_contact "Alice Johnson" "(650) 555-0101")
bob=$(add_contact "Bob Buyer" "650-444-5567")
must settings set auto_log on

# sms_with CONTACT TEXT: the one SMS activity of CONTACT whose body holds TEXT (null when
# none; the test fails when several do, since a message must be in one activity only).
sms_with() {
    local acts
    acts=$(activities_json)
    printf '%s' "$acts" | jq -c --arg c "$1" --arg t "$2" \
        'map(select(.kind == "sms" and .contact_id == $c and (.body | contains($t)))) | if length > 1 then "several" else .[0] end' ||
        fail "sms_with: activities --json is not JSON: $acts"
}
lines_of() { printf '%s' "$1" | jq '.body | split("\n") | map(select(length > 0)) | length'; }

cl import --json "$DATA/message_store.json"
expect_rc 0 "message-store import"
expect_jq "$OUT" '.sms == 4 and .added == 4' "4 SMS added"
cl autolog --json
expect_rc 0 "autolog"
expect_jq "$OUT" '.logged == 4 and .unresolved == 0 and .failed == 0' "4 SMS logged"
s=$(calls_json --status logged)
expect_jq "$s" 'length == 4 and all(.[]; .type == "sms" and .log_id != null)' "the 4 SMS are logged"

acts=$(activities_json)
expect_jq "$acts" 'length == 2 and all(.[]; .kind == "sms")' "messages on two days: two SMS activities"
d10=$(sms_with "$alice" "Can we move our call to 3pm?")
d11=$(sms_with "$alice" "Sending the signed quote today.")
[[ "$d10" != null && "$d10" != '"several"' ]] || fail "no single SMS activity for Alice's 2026-01-10 messages: $acts"
[[ "$d11" != null && "$d11" != '"several"' ]] || fail "no single SMS activity for Alice's 2026-01-11 message: $acts"
[[ $(jqv "$d10" .id) != $(jqv "$d11" .id) ]] || fail "both days in one activity: $acts"
ok "one activity for 2026-01-10 and one for 2026-01-11, both on Alice"
expect_jq "$acts" "all(.[]; .contact_id == \"$alice\")" "both on Alice"
for t in "Can we move our call to 3pm?" "Yes, 3pm works." "Thanks, talk then!"; do
    n=$(printf '%s' "$d10" | jq --arg t "$t" '.body | [splits("\n") | select(contains($t))] | length')
    expect_eq "$n" 1 "2026-01-10 activity holds '$t' once"
done
expect_jq "$d10" '.body | contains("Sending the signed quote") | not' "the next day's message is not in the first day"
expect_jq "$d11" '.body | contains("Sending the signed quote today.")' "2026-01-11 activity holds its message"
l10=$(lines_of "$d10")
l11=$(lines_of "$d11")
expect_jq "$d10" '.body | index("3pm?") < index("3pm works")' "messages in time order"
log10=$(jqv "$d10" .id)
m1=$(call_by_session 1724099100001)
expect_jq "$m1" ".log_id == \"$log10\"" "the message's log_id is its day's activity"

# ---- importing again, autolog again: nothing added ---------------------------------------
cl import --json "$DATA/message_store.json"
expect_jq "$OUT" '.added == 0 and .updated == 0' "re-import adds nothing"
cl autolog --json
expect_rc 0 "autolog again"
expect_jq "$OUT" '.logged == 0' "autolog again logs nothing"
n=$(nactivities)
expect_eq "$n" 2 "still two activities"
d10=$(sms_with "$alice" "Can we move our call to 3pm?")
d11=$(sms_with "$alice" "Sending the signed quote today.")
expect_eq "$(lines_of "$d10")" "$l10" "2026-01-10 body line count unchanged"
expect_eq "$(lines_of "$d11")" "$l11" "2026-01-11 body line count unchanged"

# ---- later messages: same day joins the day, other contact is its own activity -----------
cl import --json "$DATA/sms_more.jsonl"
expect_rc 0 "JSONL with a repeated message and three new ones"
expect_jq "$OUT" '.added == 3 and .unchanged == 1' "3 new, the repeated message unchanged"
cl autolog --json
expect_rc 0 "autolog of the new messages"
expect_jq "$OUT" '.logged == 2 and .unresolved == 1' "2 logged, the unknown number unresolved"
acts=$(activities_json)
expect_jq "$acts" 'length == 3' "three activities: Alice x 2 days, Bob x 1 day"
d10=$(sms_with "$alice" "Can we move our call to 3pm?")
d10b=$(sms_with "$alice" "Got it, see you tomorrow.")
expect_eq "$(jqv "$d10b" .id)" "$log10" "the later message joined Alice's 2026-01-10 activity"
expect_eq "$(lines_of "$d10")" "$((l10 + 1))" "2026-01-10 body grew by exactly one line"
for t in "Can we move our call to 3pm?" "Yes, 3pm works." "Thanks, talk then!" "Got it, see you tomorrow."; do
    n=$(printf '%s' "$d10" | jq --arg t "$t" '.body | [splits("\n") | select(contains($t))] | length')
    expect_eq "$n" 1 "2026-01-10 activity holds '$t' exactly once"
done
b10=$(sms_with "$bob" "Bob here: is the quote ready?")
[[ "$b10" != null && "$b10" != '"several"' ]] || fail "no single SMS activity for Bob's message: $acts"
expect_jq "$b10" '.body | contains("Bob here: is the quote ready?") and (contains("3pm") | not)' \
    "Bob's day has his message only"
u=$(cl unresolved --json; printf '%s' "$OUT")
expect_jq "$u" 'length == 1 and .[0].call.session_id == "1724099100008" and .[0].reason == "no_contact"' \
    "the SMS from an unknown number is unresolved: no_contact"

# ---- resolve it by hand: it gets its own day activity, nothing else changes ---------------
cl log --json --new-contact "Unknown Texter" 1724099100008
expect_rc 0 "log the unresolved SMS with --new-contact"
acts=$(activities_json)
expect_jq "$acts" 'length == 4' "a fourth activity for the new contact"
expect_jq "$acts" '[.[] | select(.body | contains("Who is this?"))] | length == 1 and .[0].kind == "sms"' \
    "the message is in one SMS activity"
cl unresolved --json
expect_jq "$OUT" '. == []' "unresolved is empty"

# ---- one more round of everything: still nothing doubled --------------------------------
must import "$DATA/message_store.json"
must import "$DATA/sms_more.jsonl"
cl autolog --json
expect_jq "$OUT" '.logged == 0 and .unresolved == 0' "a last autolog does nothing"
d10=$(sms_with "$alice" "Can we move our call to 3pm?")
expect_eq "$(lines_of "$d10")" "$((l10 + 1))" "2026-01-10 body line count still the same"
n=$(nactivities)
expect_eq "$n" 4 "still four activities"

done_testing
