/** sshd configuration of a test node: key-only root login, everything in the node's own files. */
export function sshdConfig(opts: { address: string; hostKey: string; authorizedKeys: string; pidFile: string }): string {
  return [
    `ListenAddress ${opts.address}`,
    'Port 22',
    `HostKey ${opts.hostKey}`,
    `PidFile ${opts.pidFile}`,
    `AuthorizedKeysFile ${opts.authorizedKeys}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    // UsePAM would need a PAM stack for root and a login session; key auth does not.
    'UsePAM no',
    // Test trees and temp dirs are not owned the way StrictModes expects.
    'StrictModes no',
    'Subsystem sftp internal-sftp',
    // Parallel ansible forks and ssh2 transfers connect at once.
    'MaxStartups 50:30:100',
    'MaxSessions 50',
    '',
  ].join('\n');
}
