#!/usr/bin/env bash
# crmlog import: RingCentral call-log and message-store responses, JSON Lines, standard
# input; number normalisation; the other party's side; re-import adds nothing; malformed
# files import nothing and say where; internal calls; active calls that end; retention.
source "$(dirname "$0")/lib.bash" "$@"

call_log=$(render call_log.json)
jsonl=$(render calls.jsonl)

# ---- call-log response ---------------------------------------------------------------------
cl import --json "$call_log"
expect_rc 0 "call-log response imports"
expect_jq "$OUT" '.records == 9 and .calls == 8 and .sms == 0 and .skipped == 1' \
    "call-log counts: 9 records, 8 calls, the fax skipped"
expect_jq "$OUT" '.added == 8 and .updated == 0 and .unchanged == 0' "8 calls added"
calls=$(calls_json)
expect_jq "$calls" 'length == 8' "calls --json lists the 8 calls"
expect_jq "$calls" 'all(.[]; .type == "call")' "they are all calls"
expect_jq "$calls" '[.[].session_id] | index("700000009") == null' "the fax is not a call"
expect_jq "$calls" '[.[].start_time] == ([.[].start_time] | sort | reverse)' "newest first"

c=$(call_by_session 700000001)
expect_jq "$c" '.direction == "inbound" and .number == "+16504445567"' \
    "inbound: the other party is from, 16504445567 read as +16504445567"
expect_jq "$c" '.duration == 125 and .result == "Accepted" and .name == "Bob Buyer"' \
    "duration, result and caller-id name kept"
expect_jq "$c" '.recording == "https://media.ringcentral.com/restapi/v1.0/account/400131424008/recording/2084113001/content"' \
    "recording link is the contentUri"
expect_jq "$c" '.status == "unlogged" and .note == null and .internal == false' "ended call is unlogged"
c=$(call_by_session 700000002)
expect_jq "$c" '.direction == "outbound" and .number == "+16505550101"' \
    "outbound: the other party is to (integer sessionId, number written +1 (650) 555-0101)"
expect_jq "$c" '.recording == null' "no recording, recording null"

# ---- message-store response ----------------------------------------------------------------
cl import --json "$DATA/message_store.json"
expect_rc 0 "message-store response imports"
expect_jq "$OUT" '.records == 5 and .sms == 4 and .calls == 0 and .skipped == 1 and .added == 4' \
    "message-store counts: 4 SMS added, the pager message skipped"
calls=$(calls_json)
expect_jq "$calls" 'length == 12' "calls --json lists 8 calls + 4 SMS"
s=$(call_by_session 1724099100002)
expect_jq "$s" '.type == "sms" and .direction == "outbound" and .number == "+16505550101" and .text == "Yes, 3pm works."' \
    "outbound SMS: other party is to[0] (16505550101 read as +16505550101), text kept"
s=$(call_by_session 1724099100001)
expect_jq "$s" '.type == "sms" and .direction == "inbound" and .number == "+16505550101"' \
    "inbound SMS: other party is from"

# ---- JSON Lines ----------------------------------------------------------------------------
cl import --json "$jsonl"
expect_rc 0 "JSON Lines import (with a blank line)"
expect_jq "$OUT" '.records == 3 and .calls == 2 and .sms == 1 and .added == 3' \
    "JSON Lines counts: 2 calls and 1 SMS added"
calls=$(calls_json)
expect_jq "$calls" 'length == 15' "calls --json lists 15 records"
a=$(call_by_session 700000001 | jq -r .number)
b=$(call_by_session 700000101 | jq -r .number)
d=$(call_by_session 700000102 | jq -r .number)
expect_eq "$b" "$a" "+16504445567 (JSONL) is the same number as 16504445567 (call log)"
expect_eq "$d" "$a" "16504445567 on an outbound JSONL call is the same number too"

bob=$(add_contact "Bob Buyer" "+1 650 444 5567")
calls=$(calls_json)
expect_jq "$calls" '[.[] | select(.number == "+16504445567")] | length == 4' "4 records with Bob's number"
expect_jq "$calls" "[.[] | select(.number == \"+16504445567\") | .contact.id] == [\"$bob\",\"$bob\",\"$bob\",\"$bob\"]" \
    "every way of writing Bob's number matches his one contact"

# ---- importing again adds nothing -----------------------------------------------------------
before=$(ncalls)
for f in "$call_log" "$DATA/message_store.json" "$jsonl"; do
    cl import --json "$f"
    expect_rc 0 "re-import of $(basename "$f") succeeds"
    expect_jq "$OUT" '.added == 0 and .updated == 0 and .unchanged == (.calls + .sms)' \
        "re-import of $(basename "$f"): added 0, all unchanged"
done
cl_in "$jsonl" import --json -
expect_rc 0 "import from standard input (-)"
expect_jq "$OUT" '.added == 0 and .unchanged == 3' "standard input re-import adds nothing"
after=$(ncalls)
expect_eq "$after" "$before" "calls --json length unchanged after re-imports"

# ---- malformed files import nothing and say where -------------------------------------------
snap=$(snapshot)
cl import --json "$DATA/bad_syntax_line3.jsonl"
expect_rc 1 "JSONL with a syntax error in line 3: exit 1"
expect_contains "$ERR" "bad_syntax_line3.jsonl:3" "the error names bad_syntax_line3.jsonl:3"
expect_one_line_error "syntax error reported on one line"
expect_eq "$OUT" "" "nothing on stdout"
cl import --json "$DATA/bad_phone.jsonl"
expect_rc 1 "JSONL with a bad phone number in line 2: exit 1"
expect_contains "$ERR" "bad_phone.jsonl:2" "the error names bad_phone.jsonl:2"
expect_one_line_error "bad number reported on one line"
cl import --json "$DATA/bad_date.jsonl"
expect_rc 1 "JSONL with a bad date in line 3: exit 1"
expect_contains "$ERR" "bad_date.jsonl:3" "the error names bad_date.jsonl:3"
expect_one_line_error "bad date reported on one line"
cl import --json "$DATA/bad_phone_doc.json"
expect_rc 1 "call-log response with a bad number in record 2: exit 1"
expect_contains "$ERR" "bad_phone_doc.json" "the error names the file"
expect_contains "$ERR" "BQ-2" "the error names the record id"
cl import --json "$dir/no-such-file.json"
expect_rc 1 "missing file: exit 1"
expect_contains "$ERR" "no-such-file.json" "the error names the missing file"
expect_unchanged "$snap" "malformed files imported nothing (no earlier line either)"
for s in 710000001 710000002 720000001 730000001 740000001; do
    x=$(call_by_session $s)
    expect_eq "$x" "null" "valid record before the error ($s) was not imported"
done

# ---- internal calls --------------------------------------------------------------------------
c=$(call_by_session 700000005)
expect_jq "$c" '.internal == true and .number == null and .extension == "102"' \
    "extension-to-extension call kept, internal, shown with its extension"
expect_jq "$c" '.contact == null and .matches == 0' "internal call never matched"
id=$(call_id 700000005)
nact=$(nactivities)
cl log "$id"
[[ $RC -ne 0 ]] || fail "log of an internal call should be refused"
ok "log of an internal call is refused (exit $RC)"
must settings set auto_log on
must autolog --json
c=$(call_by_session 700000005)
expect_jq "$c" '.status == "unlogged" and .log_id == null' "internal call stays unlogged after autolog"
n=$(activities_json | jq --arg s 700000005 '[.[] | select(.session_id == $s)] | length')
expect_eq "$n" 0 "no activity for the internal call"

# ---- retention -----------------------------------------------------------------------------
c=$(call_by_session 700000008)
expect_jq "$c" '.past_retention == true' "call 120 days old: past_retention true"
c=$(call_by_session 700000002)
expect_jq "$c" '.past_retention == false' "call 2 hours old: past_retention false"
cl import --json "$(render retention.jsonl)"
expect_rc 0 "retention file imports"
for row in "770000089 false 89 days ago" "770000091 true 91 days ago" "770002020 true on 2020-02-29" "770000000 false a minute ago"; do
    read -r s want what <<<"$row"
    c=$(call_by_session "$s")
    expect_jq "$c" ".past_retention == $want" "call started $what: past_retention $want"
done
c=$(call_by_session 770002020)
expect_jq "$c" '.start_time | startswith("2020-02-29T23:59:59")' "a leap-day time is kept as given"
cl calls
expect_rc 0 "calls (text)"
grep -E '^ *[0-9]+ +2020-02-29' <<<"$OUT" | grep -q 'past' || fail "text history does not mark the 2020 call past retention: $OUT"
ok "text history marks the old call past retention"

# ---- an active call that ends ------------------------------------------------------------------
active=$(render active.jsonl)
ended=$(render ended.jsonl)
cl import --json "$active"
expect_rc 0 "active call imports"
expect_jq "$OUT" '.added == 1' "active call added"
c=$(call_by_session 750000001)
expect_jq "$c" '.status == "active"' "result In Progress: status active"
must note 750000001 "customer wants a callback on Friday"
c=$(call_by_session 750000001)
expect_jq "$c" '.note == "customer wants a callback on Friday"' "note saved on the active call"
cl import --json "$ended"
expect_rc 0 "the ended record imports"
expect_jq "$OUT" '.added == 0 and .updated == 1' "the active call is updated, not added"
c=$(call_by_session 750000001)
expect_jq "$c" '.status == "unlogged" and .duration == 185 and .result == "Accepted"' \
    "ended: unlogged with its final duration and result"
expect_jq "$c" '.recording != null' "ended: recording link arrived"
expect_jq "$c" '.note == "customer wants a callback on Friday"' "ended: note kept"
cl import --json "$ended"
expect_jq "$OUT" '.added == 0 and .updated == 0 and .unchanged == 1' "the ended record again: unchanged"
cl import --json "$active"
expect_rc 0 "the stale In Progress record again imports"
c=$(call_by_session 750000001)
expect_jq "$c" '.status == "unlogged" and .duration == 185' "a stale In Progress record does not make an ended call active again"

done_testing
