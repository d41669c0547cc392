# Rearguard: sourced by the ReaR rescue system's system-setup (from the overlay the daemon adds to
# the initrd of a restore). It tells the daemon how the restore goes and fetches the backup's
# archive to where ReaR's recover expects it. Sourced, so it never exits: a failure here must not
# keep the rescue system from coming up.
. "${RG_ENV_FILE:-/etc/rearguard/restore.env}"
echo "Rearguard restore $RG_RESTORE_ID: backup $RG_BACKUP_ID of $RG_NODE"

# HTTP/1.0 over bash's /dev/tcp: the rescue system may have neither curl nor wget.
rearguard_http() {
    local method=$1 path=$2 out=${3:-/dev/null} hostport=${RG_HTTP#http://} status line
    hostport=${hostport%%/*}
    exec 9<>"/dev/tcp/${hostport%%:*}/${hostport##*:}" 2>/dev/null || return 1
    printf '%s %s HTTP/1.0\r\nHost: %s\r\nContent-Length: 0\r\n\r\n' "$method" "$path" "$hostport" >&9
    read -r _ status _ <&9
    while IFS= read -r line <&9 && [ "${line%$'\r'}" != "" ]; do :; done
    cat <&9 >"$out"
    exec 9<&-
    [ "$status" = 200 ] || [ "$status" = 204 ]
}

rearguard_report() {
    rearguard_http POST "/boot/$RG_RESTORE_ID/report/$1" || echo "Rearguard: could not report $1 to $RG_HTTP"
}

rearguard_report rescue_booted

if [ -n "$RG_ARCHIVE_PATH" ]; then
    mkdir -p "${RG_ARCHIVE_PATH%/*}"
    if rearguard_http GET "/boot/$RG_RESTORE_ID/archive" "$RG_ARCHIVE_PATH" &&
        { ! type -p sha256sum >/dev/null || echo "$RG_ARCHIVE_SHA256  $RG_ARCHIVE_PATH" | sha256sum -c --status; }; then
        rearguard_report archive_fetched
    else
        echo "Rearguard: the archive of $RG_BACKUP_ID could not be fetched and verified"
        rm -f "$RG_ARCHIVE_PATH"
    fi
fi

# ReaR's system-setup runs `rear recover` in this shell after the setup scripts: wrap it to report the outcome.
rear() {
    command rear "$@"
    local rc=$?
    case " $* " in
    *" recover "*) if [ $rc -eq 0 ]; then rearguard_report recovered; else rearguard_report recover_failed; fi ;;
    esac
    return $rc
}
