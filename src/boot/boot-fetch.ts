/** One boot file request as a boot server saw it: what restore progress is read from. */
export interface BootFetch {
  protocol: 'tftp' | 'http';
  /** The client's IP address. */
  client: string;
  /** The requested path, relative to the boot root, no leading slash. */
  file: string;
  outcome: 'sent' | 'refused' | 'failed';
  /** Bytes sent (0 unless sent). */
  bytes: number;
  /** Why it was refused or failed. */
  reason?: string;
}
