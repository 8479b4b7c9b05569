#!/usr/bin/env bash
# Options where the usage lines and docs/cli.md put them: after the operands
# ("crmlog import FILE|- [--json]", "crmlog log CALL [--contact ID]…",
# "crmlog contacts find NUMBER [--json]", "crmlog log CALL --contact ID" to resolve), as well
# as before them. Both orders must do the same thing.
source "$(dirname "$0")/lib.bash" "$@"

alice=$(add_contact "Alice Johnson" "(650) 555-0101")
dana=$(add_contact "Dana Lee" "650.555.0123")
sam=$(add_contact "Sam Lee" "+1 650 555 0123")
call_log=$(render call_log.json)

# Options before operands (works with any getopt).
cl import --json "$call_log"
expect_rc 0 "import --json FILE"
expect_jq "$OUT" '.added == 8' "import --json FILE prints the counts"

# ---- options after operands, as the usage lines show them ----------------------------------
cl import "$call_log" --json
expect_rc 0 "import FILE --json (as in 'crmlog import FILE|- [--json]')"
expect_jq "$OUT" '.added == 0 and .unchanged == 8' "import FILE --json prints the counts"

cl contacts find "6505550101" --json
expect_rc 0 "contacts find NUMBER --json"
expect_jq "$OUT" "length == 1 and .[0].id == \"$alice\"" "contacts find NUMBER --json finds Alice"

cl contacts add --name "Late Json" --phone "(650) 555-0301" --json
expect_rc 0 "contacts add ... --json (options in any order)"
expect_jq "$OUT" '.name == "Late Json"' "contacts add ... --json prints the contact"

cl log 700000003 --json
expect_rc 3 "log CALL --json with several contacts: exit 3"
expect_jq "$OUT" '.reason == "multiple_contacts"' "log CALL --json prints the reason"

cl log 700000003 --contact "$sam"
expect_rc 0 "log CALL --contact ID (as docs/cli.md resolves unresolved calls)"
c=$(call_by_session 700000003)
expect_jq "$c" ".status == \"logged\" and .contact.id == \"$sam\"" "logged to the chosen contact"

cl log 700000002 --note "after the operand" --field disposition=connected --json
expect_rc 0 "log CALL --note TEXT --field NAME=VALUE --json"
expect_jq "$OUT" '.status == "logged" and .note == "after the operand"' "note and log applied"

cl activities --json --contact "$alice"
expect_rc 0 "activities --json --contact ID"
expect_jq "$OUT" 'length == 1 and .[0].fields.disposition == "connected"' "the field was applied"

cl settings set auto_log on --json
expect_rc 0 "settings set KEY VALUE --json"
expect_jq "$OUT" '. == {"auto_log":"on"}' "settings set ... --json prints the value"

done_testing
