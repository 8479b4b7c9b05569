#!/usr/bin/env bash
# Bad command lines of every kind: unknown call ids, unparsable numbers, unknown commands and
# options, missing or extra operands, bad option values. Each one: a one-line error on
# stderr, exit 1 (bad input) or 2 (usage), nothing on stdout, and nothing changed in the
# store (calls --json, settings --json, activities --json compared before and after).
source "$(dirname "$0")/lib.bash" "$@"

alice=$(add_contact "Alice Johnson" "(650) 555-0101")
must import "$(render call_log.json)"
must note 700000002 "a note that must survive bad input"
must log 700000002
must settings set phone_formats "(***) ***-****"
snap=$(snapshot)
expect_jq "$snap" '(.activities | length) == 1 and (.calls | length) == 8' "store set up: 8 calls, 1 activity"

# check_bad CODE ARGS...: crmlog ARGS is refused with CODE, one stderr line, empty stdout,
# and the store unchanged (checked after each bad-input case, and once after all usage cases).
check_bad() {
    local code=$1
    shift
    local what
    what="crmlog $(printf '%q ' "$@")"
    cl "$@"
    expect_rc "$code" "$what: exit $code"
    expect_one_line_error "$what: one-line error"
    [[ -z "$OUT" ]] || fail "$what: nothing should be on stdout, got: $OUT"
    ok "$what: nothing on stdout"
    if [[ $code -eq 1 ]]; then expect_unchanged "$snap" "$what: nothing changed"; fi
}

# ---- bad input: exit 1 --------------------------------------------------------------------
check_bad 1 note 9999 "text"
check_bad 1 note no-such-session "text"
check_bad 1 log 9999
check_bad 1 log --json no-such-session
check_bad 1 log --contact "$alice" 424242424242
check_bad 1 contacts find "hello"
check_bad 1 contacts find "+1 650 555"
check_bad 1 contacts find --json "call me maybe"
check_bad 1 contacts add --name "Nobody" --phone "not a number"
check_bad 1 contacts add --name "Half Good" --phone "(650) 555-0177" --phone "555"
check_bad 1 import "$dir/does-not-exist.jsonl"
check_bad 1 contacts find "101"
check_bad 1 log --contact 9999 700000003
check_bad 1 log --contact "$alice" --new-contact "Both" 700000004
check_bad 1 log --contact "$alice" --field disposition=busy --field disposition=busy 700000004
check_bad 1 log --contact "$alice" --field "disposition=Left Voicemail" 700000004
check_bad 1 log --contact "$alice" --association 9999 700000004
long=$(head -c 40000 /dev/zero | tr '\0' n)
check_bad 1 note 700000002 "$long"
check_bad 1 note 700000004 "$long"
cl_in "$DATA/bad_syntax_line3.jsonl" import --json -
expect_rc 1 "import - with a syntax error in line 3: exit 1"
expect_contains "$ERR" "stdin:3" "the error says stdin:3"
expect_unchanged "$snap" "import - of a broken file: nothing changed"
cl contacts find --json "(650) 555-0177"
expect_jq "$OUT" '. == []' "a contact with one bad number was not added with the good one"

# ---- usage: exit 2 ----------------------------------------------------------------------------
check_bad 2 frobnicate
check_bad 2 --frob calls
check_bad 2 calls --frob
check_bad 2 calls extra-operand
check_bad 2 calls --status
check_bad 2 calls --status done
check_bad 2 note
check_bad 2 note 1
check_bad 2 note 1 "two" "texts"
check_bad 2 log
check_bad 2 log 1 2
check_bad 2 log --contact
check_bad 2 log --field "=x" 1
check_bad 2 import
check_bad 2 import a.json b.json
check_bad 2 contacts
check_bad 2 contacts remove
check_bad 2 contacts find
check_bad 2 contacts add --name "No Phone"
check_bad 2 contacts add --phone "(650) 555-0178"
check_bad 2 settings set auto_log
check_bad 2 settings set
check_bad 2 settings get auto_log
check_bad 2 activities --contact
check_bad 2 activities extra
check_bad 2 autolog now
check_bad 2 unresolved extra
check_bad 2 fields extra
check_bad 2 demo extra
cl_raw --db "$DB"
expect_rc 2 "no command at all: exit 2"
cl_raw
expect_rc 2 "no arguments at all: exit 2"

expect_unchanged "$snap" "after all the bad input, the store is unchanged"
c=$(call_by_session 700000002)
expect_jq "$c" '.note == "a note that must survive bad input" and .status == "logged"' "the note and the log are intact"

done_testing
