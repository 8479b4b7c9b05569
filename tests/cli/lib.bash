# Shared helpers for the command-line tests (tests/cli/*.sh). Sourced, not run: the name
# does not end in .sh, so CMake's glob does not register it as a test.
#
# Usage in a test:   source "$(dirname "$0")/lib.bash" "$@"
# Then:              cl import --json "$DATA/calls.json"    # runs crmlog, never aborts
#                    expect_rc 0 "import succeeds"          # checks $RC, prints ok - ...
#                    expect_jq "$OUT" '.added == 3' "three calls added"

set -euo pipefail
shopt -s inherit_errexit  # a failed check inside $(...) stops the test too

if [[ $# -lt 1 || -z "$1" ]]; then
    echo "usage: bash $0 /path/to/crmlog" >&2
    exit 2
fi
CRMLOG=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[[ -x "$CRMLOG" ]] || { echo "FAIL: $CRMLOG is not an executable" >&2; exit 1; }
command -v jq >/dev/null || { echo "FAIL: jq is needed (apt-get install -y jq)" >&2; exit 1; }

TEST_NAME=$(basename "$0" .sh)
DATA=${CRMLOG_TEST_DATA:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../data" && pwd)}/cli
[[ -d "$DATA" ]] || { echo "FAIL: no test data directory $DATA" >&2; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/crmlog-cli-$TEST_NAME.XXXXXX")
trap 'rm -rf "$dir"' EXIT
DB="$dir/t.db"
unset CRMLOG_DB
CHECKS=0

# ---- reporting ---------------------------------------------------------------------------

ok() {
    CHECKS=$((CHECKS + 1))
    echo "ok - $*"
}

# fail MESSAGE: says what broke, with the last command run and its output, and exits 1.
fail() {
    {
        echo "FAIL [$TEST_NAME]: $*"
        if [[ -n "${LAST_CMD:-}" ]]; then
            echo "  last command: $LAST_CMD"
            echo "  exit code:    ${RC:-?}"
            echo "  stdout:       $(printf '%s' "${OUT:-}" | head -c 2000)"
            echo "  stderr:       $(printf '%s' "${ERR:-}" | head -c 2000)"
        fi
    } >&2
    exit 1
}

done_testing() {
    echo "# $TEST_NAME: $CHECKS checks passed"
}

# ---- running crmlog ---------------------------------------------------------------------

# cl ARGS...: runs crmlog --db "$DB" ARGS; sets OUT (stdout), ERR (stderr), RC (exit code).
# Never aborts the script, whatever crmlog does.
cl() {
    cl_raw --db "$DB" "$@"
}

# cl_raw ARGS...: the same without --db.
cl_raw() {
    LAST_CMD="crmlog $(printf '%q ' "$@")"
    local o="$dir/.out" e="$dir/.err"
    set +e
    "$CRMLOG" "$@" >"$o" 2>"$e" </dev/null
    RC=$?
    set -e
    OUT=$(<"$o")
    ERR=$(<"$e")
}

# cl_in FILE ARGS...: cl with standard input from FILE.
cl_in() {
    local in=$1
    shift
    LAST_CMD="crmlog --db $DB $(printf '%q ' "$@") < $in"
    local o="$dir/.out" e="$dir/.err"
    set +e
    "$CRMLOG" --db "$DB" "$@" >"$o" 2>"$e" <"$in"
    RC=$?
    set -e
    OUT=$(<"$o")
    ERR=$(<"$e")
}

# must ARGS...: cl, and fail unless crmlog exits 0.
must() {
    cl "$@"
    [[ $RC -eq 0 ]] || fail "crmlog $* exited $RC, expected 0"
}

# ---- checks ------------------------------------------------------------------------------

# expect_rc CODE DESCRIPTION: the last command exited CODE.
expect_rc() {
    [[ $RC -eq $1 ]] || fail "$2: exit code $RC, expected $1"
    ok "$2"
}

# expect_rc_in "1 2" DESCRIPTION: the last command exited with one of the codes.
expect_rc_in() {
    local c
    for c in $1; do
        if [[ $RC -eq $c ]]; then
            ok "$2"
            return 0
        fi
    done
    fail "$2: exit code $RC, expected one of: $1"
}

# expect_eq GOT WANT DESCRIPTION
expect_eq() {
    [[ "$1" == "$2" ]] || fail "$3: got '$1', expected '$2'"
    ok "$3"
}

# expect_jq JSON FILTER DESCRIPTION: jq -e FILTER is true on JSON.
expect_jq() {
    local json=$1 filter=$2 desc=$3
    if ! printf '%s' "$json" | jq -e "$filter" >/dev/null 2>&1; then
        fail "$desc: jq '$filter' is not true on: $(printf '%s' "$json" | head -c 1500)"
    fi
    ok "$desc"
}

# jqv JSON [JQ_ARGS...] FILTER: prints jq -r FILTER of JSON; fails the test when JSON is not
# JSON. Use as v=$(jqv ...) on its own line, so a failure stops the test.
jqv() {
    local json=$1
    shift
    printf '%s' "$json" | jq -r "$@" 2>/dev/null ||
        fail "not JSON (or bad jq filter: $*): $(printf '%s' "$json" | head -c 1500)"
}

# expect_contains HAYSTACK NEEDLE DESCRIPTION
expect_contains() {
    [[ "$1" == *"$2"* ]] || fail "$3: '$2' not found in: $(printf '%s' "$1" | head -c 1500)"
    ok "$3"
}

expect_not_contains() {
    [[ "$1" != *"$2"* ]] || fail "$3: '$2' should not be in: $(printf '%s' "$1" | head -c 1500)"
    ok "$3"
}

# expect_one_line_error DESCRIPTION: stderr of the last command is exactly one non-empty line.
expect_one_line_error() {
    local n
    n=$(printf '%s\n' "$ERR" | grep -c . || true)
    [[ $n -eq 1 ]] || fail "$1: stderr should be one line, got $n: $ERR"
    ok "$1"
}

# ---- state of the store ------------------------------------------------------------------

# calls_json [ARGS]: prints crmlog calls --json [ARGS]. (Output that is not JSON makes the
# jq of the caller's next check fail, with the text shown.)
calls_json() {
    cl calls --json "$@"
    [[ $RC -eq 0 ]] || fail "crmlog calls --json exited $RC"
    printf '%s' "$OUT"
}

activities_json() {
    cl activities --json "$@"
    [[ $RC -eq 0 ]] || fail "crmlog activities --json exited $RC"
    printf '%s' "$OUT"
}

settings_json() {
    cl settings --json
    [[ $RC -eq 0 ]] || fail "crmlog settings --json exited $RC"
    printf '%s' "$OUT"
}

ncalls() { calls_json | jq length; }
nactivities() { activities_json | jq length; }

# call_by_session SESSION_ID: the call's JSON object from calls --json ("null" when absent).
call_by_session() {
    calls_json | jq -c --arg s "$1" 'map(select(.session_id == $s)) | .[0]'
}

# call_id SESSION_ID: crmlog's id of the call with that session id.
call_id() {
    local id
    id=$(call_by_session "$1" | jq -r '.id')
    [[ -n "$id" && "$id" != null ]] || fail "no call with session id $1"
    printf '%s' "$id"
}

# snapshot: calls, settings and activities as one JSON text, to compare before and after.
snapshot() {
    local c s a
    c=$(calls_json)
    s=$(settings_json)
    a=$(activities_json)
    printf '{"calls":%s,"settings":%s,"activities":%s}' "$c" "$s" "$a" | jq -S -c . ||
        fail "snapshot: calls, settings or activities --json printed something that is not JSON"
}

# expect_unchanged BEFORE DESCRIPTION: the store is as the snapshot BEFORE says.
expect_unchanged() {
    local before=$1 desc=$2 after
    after=$(snapshot)
    if [[ "$before" != "$after" ]]; then
        fail "$desc: the store changed; diff before/after:
$(diff <(printf '%s' "$before" | jq -S .) <(printf '%s' "$after" | jq -S .) | head -40)"
    fi
    ok "$desc"
}

# add_contact NAME PHONE... [-- ASSOC...]: adds a contact, prints its id.
add_contact() {
    local name=$1
    shift
    local args=(contacts add --json --name "$name") assoc=0 a
    for a in "$@"; do
        if [[ "$a" == -- ]]; then
            assoc=1
            continue
        fi
        if [[ $assoc -eq 1 ]]; then args+=(--association "$a"); else args+=(--phone "$a"); fi
    done
    cl "${args[@]}"
    [[ $RC -eq 0 ]] || fail "adding contact $name: exit $RC"
    local id
    id=$(printf '%s' "$OUT" | jq -r .id 2>/dev/null) || fail "contacts add --json printed no JSON: $OUT"
    [[ -n "$id" && "$id" != null ]] || fail "contacts add --json gave no id: $OUT"
    printf '%s' "$id"
}

# ---- test data ---------------------------------------------------------------------------

# iso_ago SPEC: an ISO 8601 UTC time SPEC ago ("2 hours", "120 days"), as RingCentral writes
# it, counted from one "now" taken when the test starts, so the same SPEC is the same time in
# every file a test renders.
NOW_EPOCH=$(date -u +%s)
iso_ago() {
    local secs
    secs=$(date -u -d "1970-01-01 00:00:00 UTC + $1" +%s) || fail "iso_ago: bad time spec '$1'"
    date -u -d "@$((NOW_EPOCH - secs))" +%Y-%m-%dT%H:%M:%S.000Z
}

# render FILE: copies $DATA/FILE into $dir with every @AGO:SPEC@ replaced by iso_ago SPEC
# (e.g. @AGO:2 hours@), and prints the new path. Relative times keep retention checks true
# whatever day the tests run.
render() {
    local src="$DATA/$1" dst="$dir/$1" spec
    [[ -f "$src" ]] || fail "missing test data $src"
    cp "$src" "$dst"
    while IFS= read -r spec; do
        [[ -n "$spec" ]] || continue
        local t
        t=$(iso_ago "$spec")
        sed -i "s|@AGO:$spec@|$t|g" "$dst"
    done < <(grep -o '@AGO:[^@]*@' "$src" | sed 's/^@AGO://; s/@$//' | sort -u)
    ! grep -q '@AGO:' "$dst" || fail "render $1: placeholder left"
    printf '%s' "$dst"
}
