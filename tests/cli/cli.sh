#!/usr/bin/env bash
# The command line as a whole: where the store is (--db, then $CRMLOG_DB, then ./crmlog.db;
# sqlite:PATH), --user, crmlog --help listing every command, every command's --help, demo.
source "$(dirname "$0")/lib.bash" "$@"

cd "$dir"
commands=(import contacts calls note log fields activities settings autolog unresolved demo)

# ---- help ------------------------------------------------------------------------------------
cl_raw --help
expect_rc 0 "crmlog --help exits 0"
help=$OUT
for c in "${commands[@]}"; do
    grep -q "crmlog $c\b" <<<"$help" || fail "crmlog --help does not list '$c': $help"
    ok "crmlog --help lists $c"
done
expect_contains "$help" "--db" "crmlog --help mentions --db"
cl_raw -h
expect_rc 0 "crmlog -h exits 0"
for c in "${commands[@]}"; do
    cl_raw "$c" --help
    expect_rc 0 "crmlog $c --help exits 0"
    grep -q "crmlog $c\b" <<<"$OUT" || fail "crmlog $c --help does not mention 'crmlog $c': $OUT"
    ok "crmlog $c --help mentions crmlog $c"
    [[ $(wc -l <<<"$OUT") -ge 3 ]] || fail "crmlog $c --help is not more than a usage line: $OUT"
    ok "crmlog $c --help explains the command"
done
cl_raw contacts add --help
expect_rc 0 "crmlog contacts add --help exits 0"
cl_raw settings set --help
expect_rc 0 "crmlog settings set --help exits 0"
[[ ! -e "$dir/crmlog.db" ]] || fail "--help created a store"
ok "--help creates no store"

# ---- which store -------------------------------------------------------------------------------
wd="$dir/wd"
mkdir "$wd"
cd "$wd"
unset CRMLOG_DB

cl_raw contacts add --name "Cwd Person" --phone "(650) 555-0201"
expect_rc 0 "without --db or CRMLOG_DB: contacts add"
[[ -f "$wd/crmlog.db" ]] || fail "no ./crmlog.db created in the working directory ($(ls -A "$wd"))"
ok "the store is ./crmlog.db"

export CRMLOG_DB="$dir/env.db"
cl_raw contacts add --name "Env Person" --phone "(650) 555-0202"
expect_rc 0 "with CRMLOG_DB: contacts add"
[[ -f "$dir/env.db" ]] || fail "\$CRMLOG_DB store $dir/env.db not created"
ok "the store is \$CRMLOG_DB"
cl_raw contacts find --json "6505550201"
expect_jq "$OUT" '. == []' "CRMLOG_DB store does not see ./crmlog.db's contact"
cl_raw contacts find --json "6505550202"
expect_jq "$OUT" 'length == 1 and .[0].name == "Env Person"' "CRMLOG_DB store has its contact"

cl_raw --db "$dir/flag.db" contacts add --name "Flag Person" --phone "(650) 555-0203"
expect_rc 0 "--db with CRMLOG_DB set: contacts add"
[[ -f "$dir/flag.db" ]] || fail "--db store $dir/flag.db not created"
ok "--db wins over \$CRMLOG_DB"
cl_raw contacts find --json "6505550203"
expect_jq "$OUT" '. == []' "the CRMLOG_DB store did not get the --db contact"
cl_raw --db "$dir/flag.db" contacts find --json "6505550203"
expect_jq "$OUT" 'length == 1 and .[0].name == "Flag Person"' "the --db store has it"

export CRMLOG_DB=""
cl_raw contacts find --json "6505550201"
expect_jq "$OUT" 'length == 1 and .[0].name == "Cwd Person"' "empty CRMLOG_DB: back to ./crmlog.db"
unset CRMLOG_DB
cl_raw contacts find --json "6505550202"
expect_jq "$OUT" '. == []' "./crmlog.db did not get the CRMLOG_DB contact"

cl_raw --db "sqlite:$dir/url.db" contacts add --name "Url Person" --phone "(650) 555-0204"
expect_rc 0 "--db sqlite:PATH"
[[ -f "$dir/url.db" ]] || fail "sqlite:PATH did not create $dir/url.db"
ok "sqlite:PATH names the file"
cl_raw --db "$dir/url.db" contacts find --json "6505550204"
expect_jq "$OUT" 'length == 1' "the same store without the sqlite: prefix"
cd "$dir"

# ---- users ---------------------------------------------------------------------------------------
cl --user agent settings --json
expect_rc 0 "--user agent (the first user)"
cl --user nobody calls
expect_rc 1 "--user with an unknown name: exit 1"
expect_one_line_error "unknown user: one-line error"

# ---- demo ---------------------------------------------------------------------------------------
cl demo
expect_rc 0 "demo on an empty store"
calls=$(calls_json)
expect_jq "$calls" 'length > 0 and any(.[]; .type == "sms") and any(.[]; .contact != null)' \
    "demo adds calls, SMS and matching contacts"
n=$(jqv "$calls" length)
cl demo
expect_rc 0 "demo again"
m=$(ncalls)
expect_eq "$m" "$n" "demo on a store with calls adds nothing"

done_testing
