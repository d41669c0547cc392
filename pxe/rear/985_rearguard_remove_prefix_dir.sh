# Rearguard: added to the rescue system by the restore's overlay (restore stage, after the archive
# is restored). For a file:// BACKUP_URL, ReaR 2.7's restore/NETFS/default/400_restore_backup.sh
# makes an empty $BUILD_DIR/outputfs/$NETFS_PREFIX that nothing mounts or fills; at exit,
# remove_temporary_mountpoint then finds outputfs not empty and turns a recover that succeeded
# into a BugError and a non-zero exit. Removing that empty directory (rmdir: only if empty) keeps
# the exit code true.
if test "file" = "$( url_scheme "$BACKUP_URL" )" && test -n "$NETFS_PREFIX"; then
    rmdir "$BUILD_DIR/outputfs/$NETFS_PREFIX" 2>/dev/null || Log "Rearguard: $BUILD_DIR/outputfs/$NETFS_PREFIX left in place (not empty)"
fi
