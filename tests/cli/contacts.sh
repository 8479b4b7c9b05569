#!/usr/bin/env bash
# The embedded CRM from the command line: contacts add with numbers written many ways,
# contacts find with another way of writing them, associations; and how calls --json shows
# the matched contact (one match: the contact; none or several: null, with matches).
source "$(dirname "$0")/lib.bash" "$@"

# ---- contacts add / find, data-driven -------------------------------------------------------
# name | number as added | number as searched | E.164
cases=(
    "Alice Johnson|(650) 555-0101|650.555.0101|+16505550101"
    "Bert Brown|650.555.0102|+1 650 555 0102|+16505550102"
    "Oliver Smith|+44 20 7946 0958|+442079460958|+442079460958"
    "Chris Cole|+1-650-555-0103|16505550103|+16505550103"
    "Dora Diaz|650 555 0104|(650)555-0104|+16505550104"
    "Emil Ernst|+49 30 901820|011 49 30 901820|+4930901820"
    "Fay Fox|16505550105|+1 (650) 555-0105|+16505550105"
)
for row in "${cases[@]}"; do
    IFS='|' read -r name added searched e164 <<<"$row"
    cl contacts add --json --name "$name" --phone "$added"
    expect_rc 0 "contacts add $name with '$added'"
    expect_jq "$OUT" ".name == \"$name\" and .phones == [\"$e164\"] and .associations == []" \
        "'$added' stored as $e164"
    id=$(jqv "$OUT" .id)
    cl contacts find --json "$searched"
    expect_rc 0 "contacts find '$searched'"
    expect_jq "$OUT" "length == 1 and .[0].id == \"$id\" and .[0].name == \"$name\"" \
        "'$searched' finds $name (added as '$added')"
    cl contacts find "$searched"
    expect_rc 0 "contacts find '$searched' (text)"
    expect_contains "$OUT" "$name" "text output names $name"
done

cl contacts find --json "+1 650 555 0199"
expect_rc 0 "contacts find a number nobody has"
expect_jq "$OUT" '. == []' "no contact: empty array"

# Numbers without a country code are read in the user's region.
must settings set region GB
cl contacts find --json "020 7946 0958"
expect_jq "$OUT" 'length == 1 and .[0].name == "Oliver Smith"' "region GB: '020 7946 0958' finds Oliver Smith"
must settings set region US

# ---- several numbers, associations ------------------------------------------------------------
cl contacts add --json --name "Carol Deals" --phone "+1 415 555 0130" --phone "(415) 555-0131" \
    --association "Acme renewal" --association "Acme expansion"
expect_rc 0 "contacts add with two numbers and two associations"
expect_jq "$OUT" '.phones == ["+14155550130","+14155550131"]' "both numbers stored"
expect_jq "$OUT" '[.associations[].name] == ["Acme renewal","Acme expansion"] and all(.associations[]; .id != null and .id != "")' \
    "associations returned with ids"
carol=$(jqv "$OUT" .id)
cl contacts find --json "4155550131"
expect_jq "$OUT" "length == 1 and .[0].id == \"$carol\"" "found by its second number"
expect_jq "$OUT" '[.[0].associations[].name] == ["Acme renewal","Acme expansion"]' "find shows the associations"
cl contacts find "415-555-0130"
expect_contains "$OUT" "Acme renewal" "text find shows the first association"
expect_contains "$OUT" "Acme expansion" "text find shows the second association"

# ---- calls --json: contact when exactly one matches ---------------------------------------------
dana=$(add_contact "Dana Lee" "650.555.0123")
sam=$(add_contact "Sam Lee" "+1 650 555 0123")
cl contacts find --json "6505550123"
expect_jq "$OUT" "length == 2 and ([.[].id] | sort) == ([\"$dana\",\"$sam\"] | sort)" "a shared number finds both contacts"

must import "$(render call_log.json)"
alice_id=$(cl contacts find --json "+16505550101"; jqv "$OUT" '.[0].id')
c=$(call_by_session 700000002)
expect_jq "$c" ".contact == {\"id\":\"$alice_id\",\"name\":\"Alice Johnson\"} and .matches == 1" \
    "one match: contact {id, name} and matches 1"
expect_jq "$c" '.status == "unlogged"' "status shown"
c=$(call_by_session 700000004)
expect_jq "$c" '.contact == null and .matches == 0' "no match: contact null, matches 0"
c=$(call_by_session 700000003)
expect_jq "$c" '.contact == null and .matches == 2' "two matches: contact null, matches 2"
c=$(call_by_session 700000006)
expect_jq "$c" ".contact.id == \"$carol\" and .matches == 1" "Carol's call matches Carol"

# Matching is live: a contact added later is matched by calls already imported.
c=$(call_by_session 700000001)
expect_jq "$c" '.contact == null and .matches == 0' "Bob's call has no contact yet"
bob=$(add_contact "Bob Buyer" "650-444-5567")
c=$(call_by_session 700000001)
expect_jq "$c" ".contact == {\"id\":\"$bob\",\"name\":\"Bob Buyer\"} and .matches == 1" \
    "after contacts add, the call (16504445567) matches Bob"

cl calls
expect_rc 0 "calls (text)"
expect_contains "$OUT" "Bob Buyer" "text history shows the matched contact's name"
expect_contains "$OUT" "+16505550123" "text history shows the number when several match"
cl calls --json --status unlogged
expect_jq "$OUT" 'length == 8 and all(.[]; .status == "unlogged")' "calls --status unlogged filters"
cl calls --json --status logged
expect_jq "$OUT" '. == []' "calls --status logged: none yet"

done_testing
