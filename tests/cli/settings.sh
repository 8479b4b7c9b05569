#!/usr/bin/env bash
# crmlog settings: defaults, set and read back, and every kind of bad key or value refused
# with a one-line error, exit 1, and nothing saved.
source "$(dirname "$0")/lib.bash" "$@"

s=$(settings_json)
expect_jq "$s" '.auto_log == "off"' "default auto_log off"
expect_jq "$s" '.auto_log_form_only == "off"' "default auto_log_form_only off"
expect_jq "$s" '.region == "US"' "default region US"
expect_jq "$s" '.phone_formats == ""' "default phone_formats empty"
expect_jq "$s" 'keys == ["auto_log","auto_log_form_only","phone_formats","region"]' "settings --json has the four keys"
cl settings
expect_rc 0 "settings (text)"
for k in auto_log auto_log_form_only phone_formats region; do
    expect_contains "$OUT" "$k" "text settings list $k"
done

# ---- set and read back ---------------------------------------------------------------------
# key | value written | value read back
good=(
    "phone_formats|(***) ***-****,+1-***-***-****|(***) ***-****,+1-***-***-****"
    "phone_formats|(***) ***-****|(***) ***-****"
    "phone_formats|(***) ***-****,+1-***-***-****,***.***.****|(***) ***-****,+1-***-***-****,***.***.****"
    "region|GB|GB"
    "region|US|US"
    "auto_log|on|on"
    "auto_log_form_only|on|on"
    "auto_log_form_only|off|off"
    "auto_log|off|off"
    "phone_formats|(***) ***-****,+1-***-***-****|(***) ***-****,+1-***-***-****"
)
for row in "${good[@]}"; do
    IFS='|' read -r key val want <<<"$row"
    cl settings set "$key" "$val"
    expect_rc 0 "settings set $key '$val'"
    s=$(settings_json)
    got=$(jqv "$s" --arg k "$key" '.[$k]')
    expect_eq "$got" "$want" "$key round-trips as '$want'"
done
cl settings --json set region GB
expect_rc 0 "settings --json set"
expect_jq "$OUT" '. == {"region":"GB"}' "settings --json set prints the new value"
must settings set region US

# ---- bad keys and values: exit 1, one line, nothing saved ------------------------------------
must settings set auto_log on
must settings set phone_formats "(***) ***-****,+1-***-***-****"
snap=$(snapshot)
bad=(
    "auto_log|maybe"
    "auto_log|ON "
    "auto_log|"
    "auto_log_form_only|yes"
    "region|XX"
    "region|usa"
    "region|"
    "phone_formats|(***) ***-****,+1-***-***-****,***.***.****,1-***-***-****"
    "phone_formats|(abc) ***-****"
    "phone_formats|+1-***-***-****,(***) ***-***x"
    "colour|blue"
    "Auto_Log|on"
)
for row in "${bad[@]}"; do
    IFS='|' read -r key val <<<"$row"
    cl settings set "$key" "$val"
    expect_rc 1 "settings set $key '$val' refused with exit 1"
    expect_one_line_error "settings set $key '$val': one-line error"
    expect_eq "$OUT" "" "settings set $key '$val': nothing on stdout"
done
expect_unchanged "$snap" "bad settings: nothing saved"
s=$(settings_json)
expect_jq "$s" '.auto_log == "on" and .phone_formats == "(***) ***-****,+1-***-***-****" and .region == "US"' \
    "the earlier values are still there"

done_testing
