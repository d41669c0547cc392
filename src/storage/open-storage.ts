import { readFileSync } from 'node:fs';
import type { Config } from '../config.ts';
import type { Storage } from '../core/ports.ts';
import { FileStorage } from './file-storage.ts';
import { S3Storage } from './s3-storage.ts';
import { parseS3Url } from './s3-url.ts';
import { SftpStorage } from './sftp-storage.ts';

const MiB = 1024 * 1024;

/** Picks the backend from the storage URL's scheme. */
export function openStorage(settings: Config['storage']): Storage {
  if (settings.url.startsWith('file://')) return new FileStorage(settings.url);
  if (settings.url.startsWith('s3://') && settings.s3) {
    const s3 = settings.s3;
    return new S3Storage({
      ...parseS3Url(settings.url),
      endpoint: s3.endpoint,
      region: s3.region,
      credentials: {
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey ?? readFileSync(s3.secretAccessKeyFile!, 'utf8').trim(),
      },
      partSize: s3.partSizeMiB * MiB,
      queueSize: s3.queueSize,
      maxParts: s3.maxParts,
    });
  }
  if (settings.url.startsWith('sftp://') && settings.sftp) {
    return new SftpStorage({ url: settings.url, ...settings.sftp });
  }
  throw new Error(`unsupported storage URL: ${settings.url.split(':', 1)[0]}://`);
}
