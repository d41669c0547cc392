# Rearguard: sourced by the ReaR rescue system's system-setup (from the overlay the daemon adds to
# the initrd of a restore). It tells the daemon how the restore goes and streams the backup's
# archive into ReaR's recover: where ReaR expects the archive there is a FIFO, fed from the
# daemon's HTTP route once ReaR's restore opens it, so that the archive never has to fit in the
# rescue system's RAM. Sourced, so it never exits: a failure here must not keep the rescue system
# from coming up.
. "${RG_ENV_FILE:-/etc/rearguard/restore.env}"
echo "Rearguard restore $RG_RESTORE_ID: backup $RG_BACKUP_ID of $RG_NODE"

# HTTP/1.0 over bash's /dev/tcp: the rescue system may have neither curl nor wget. The body goes
# to $3 (a file, or - for stdout) only when the answer is a 200 or 204; the response's headers
# to $4, if given.
rearguard_http() {
    local method=$1 path=$2 out=${3:-/dev/null} headers=${4:-/dev/null} hostport=${RG_HTTP#http://} status line
    hostport=${hostport%%/*}
    exec 9<>"/dev/tcp/${hostport%%:*}/${hostport##*:}" 2>/dev/null || return 1
    printf '%s %s HTTP/1.0\r\nHost: %s\r\nContent-Length: 0\r\n\r\n' "$method" "$path" "$hostport" >&9
    read -r _ status _ <&9
    while IFS= read -r line <&9 && [ "${line%$'\r'}" != "" ]; do echo "${line%$'\r'}"; done >"$headers"
    if [ "$status" != 200 ] && [ "$status" != 204 ]; then
        exec 9<&-
        return 1
    fi
    if [ "$out" = - ]; then cat <&9; else cat <&9 >"$out"; fi
    exec 9<&-
}

rearguard_report() {
    rearguard_http POST "/boot/$RG_RESTORE_ID/report/$1" || echo "Rearguard: could not report $1 to $RG_HTTP"
}

rearguard_report rescue_booted

# The writer of the FIFO, in the background: it opens the FIFO first, which blocks until ReaR's
# restore (restore/NETFS/default/400_restore_backup.sh: `dd if=$restore_input`) opens it for
# reading (the layout recreation before that may take minutes: no HTTP request waits meanwhile),
# then GETs the archive through it and sha256sum at once. After the last byte it reports the
# outcome and leaves it in $rearguard_state/outcome: fetched (the sha256 of the manifest) or
# mismatch (other bytes, or fewer: a short read, a failed GET, a reader that stopped early).
# A rescue system need not have sha256sum (ReaR's PROGS lack it; backups Rearguard takes add it):
# without it only the length is checked, against the response's Content-Length (dd counts it; dd
# is in REQUIRED_PROGS). The daemon checks the sha256 of what it sends and withholds the end of an
# archive that differs from its manifest, so a corrupted archive is a short read there too.
rearguard_stream_archive() {
    local sum got length count
    exec 7>"$RG_ARCHIVE_PATH" || return 1
    : >"$rearguard_state/opened"
    if type -p sha256sum >/dev/null; then
        sum=$(
            set -o pipefail
            rearguard_http GET "/boot/$RG_RESTORE_ID/archive" - | tee /dev/fd/7 | sha256sum
        ) && got=${sum%% *}
    else
        echo "Rearguard: no sha256sum in the rescue system: only the length of the archive of $RG_BACKUP_ID is checked"
        if (
            set -o pipefail
            rearguard_http GET "/boot/$RG_RESTORE_ID/archive" - "$rearguard_state/headers" | tee /dev/fd/7 |
                LC_ALL=C dd of=/dev/null bs=1M 2>"$rearguard_state/count"
        ); then
            length=$(sed -n 's/^[Cc]ontent-[Ll]ength: *\([0-9]*\).*/\1/p' "$rearguard_state/headers")
            count=$(sed -n 's/^\([0-9]*\) bytes.*/\1/p' "$rearguard_state/count")
            [ -n "$length" ] && [ "$count" = "$length" ] && got=$RG_ARCHIVE_SHA256
        fi
    fi
    exec 7>&-
    if [ -n "$got" ] && [ "$got" = "$RG_ARCHIVE_SHA256" ]; then
        echo fetched >"$rearguard_state/outcome"
        rearguard_report archive_fetched
    else
        echo mismatch >"$rearguard_state/outcome"
        echo "Rearguard: the archive ReaR read is not the archive of $RG_BACKUP_ID (sha256 ${got:-of a failed or short fetch}, expected $RG_ARCHIVE_SHA256)"
        rearguard_report archive_mismatch
    fi
}

rearguard_writer=
rearguard_start_writer() {
    [ -n "$RG_ARCHIVE_PATH" ] || return 0
    rearguard_state=$(mktemp -d "${TMPDIR:-/tmp}/rearguard.XXXXXX") || return 1
    mkdir -p "${RG_ARCHIVE_PATH%/*}"
    rm -f "$RG_ARCHIVE_PATH"
    if ! mkfifo -m 600 "$RG_ARCHIVE_PATH"; then
        echo "Rearguard: cannot make the FIFO $RG_ARCHIVE_PATH: the archive of $RG_BACKUP_ID will not be restored"
        return 1
    fi
    rearguard_stream_archive </dev/null &
    rearguard_writer=$!
}

# After a recover, rearguard_outcome is the writer's outcome, waited for up to RG_ARCHIVE_WAIT
# seconds (the reader is gone: the writer has only the rest of the GET and its report left);
# unread when the writer still waits to open the FIFO (the restore never read it: it is stopped),
# none when this restore has no archive.
rearguard_archive_outcome() {
    local tries=$((${RG_ARCHIVE_WAIT:-60} * 10)) grace=10
    rearguard_outcome=none
    [ -n "$rearguard_writer" ] || return 0
    while kill -0 "$rearguard_writer" 2>/dev/null && [ ! -e "$rearguard_state/outcome" ] && [ $tries -gt 0 ]; do
        if [ ! -e "$rearguard_state/opened" ]; then
            grace=$((grace - 1))
            [ $grace -gt 0 ] || break
        fi
        sleep 0.1
        tries=$((tries - 1))
    done
    if [ -e "$rearguard_state/outcome" ]; then
        wait "$rearguard_writer" 2>/dev/null
        rearguard_outcome=$(cat "$rearguard_state/outcome")
    else
        kill "$rearguard_writer" 2>/dev/null
        wait "$rearguard_writer" 2>/dev/null
        if [ -e "$rearguard_state/opened" ]; then
            echo "Rearguard: the archive of $RG_BACKUP_ID did not arrive within ${RG_ARCHIVE_WAIT:-60} s of the recover's end"
            rearguard_report archive_mismatch
            rearguard_outcome=mismatch
        else
            rearguard_outcome=unread
        fi
    fi
    rm -rf "$rearguard_state"
    rearguard_writer=
}

rearguard_start_writer

# ReaR's system-setup runs `rear recover` in this shell after the setup scripts: wrap it to report
# the outcome. A recover is a success only over an archive that verified: ReaR's restore logs a
# failing tar and goes on. A new recover after one that ended gets a new writer.
rear() {
    local rc
    case " $* " in
    *" recover "*) ;;
    *) command rear "$@"; return ;;
    esac
    [ -n "$rearguard_writer" ] || rearguard_start_writer
    command rear "$@"
    rc=$?
    rearguard_archive_outcome
    case $rearguard_outcome in
    fetched | none) ;;
    mismatch) echo "Rearguard: rear recover ran over an archive that did not verify: the restore failed" ;;
    *) echo "Rearguard: rear recover never read the archive of $RG_BACKUP_ID" ;;
    esac
    if [ $rc -eq 0 ] && { [ "$rearguard_outcome" = fetched ] || [ "$rearguard_outcome" = none ]; }; then
        rearguard_report recovered
    else
        rearguard_report recover_failed
        [ $rc -ne 0 ] || rc=1
    fi
    return $rc
}
