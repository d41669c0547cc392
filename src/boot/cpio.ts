/** One entry of an initramfs overlay. */
export interface CpioEntry {
  name: string;
  mode: number;
  /** Omitted for directories. */
  data?: Buffer;
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

const hex = (n: number) => n.toString(16).padStart(8, '0');
const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);

/**
 * A cpio archive in the "newc" format, which the Linux kernel unpacks over the initramfs when it
 * follows the main initrd: how a restore adds its own files to a backup's rescue initrd without
 * touching the initrd itself.
 */
export function newcArchive(entries: CpioEntry[], mtime = Math.floor(Date.now() / 1000)): Buffer {
  const parts: Buffer[] = [];
  const add = (name: string, mode: number, data: Buffer, ino: number) => {
    const nameBytes = Buffer.from(`${name}\0`);
    const fields = [
      ino,
      mode,
      0,
      0,
      data.length > 0 || (mode & S_IFDIR) === 0 ? 1 : 2,
      mtime,
      data.length,
      0,
      0,
      0,
      0,
      nameBytes.length,
      0,
    ];
    const header = Buffer.from(`070701${fields.map(hex).join('')}`, 'ascii');
    parts.push(header, nameBytes, pad4(header.length + nameBytes.length), data, pad4(data.length));
  };
  entries.forEach((e, i) => add(e.name, (e.data ? S_IFREG : S_IFDIR) | e.mode, e.data ?? Buffer.alloc(0), i + 1));
  add('TRAILER!!!', 0, Buffer.alloc(0), 0);
  return Buffer.concat(parts);
}
