import type { Storage } from '../core/ports.ts';
import { FileStorage } from './file-storage.ts';

/** Picks the backend from the storage URL's scheme. */
export function openStorage(url: string): Storage {
  if (url.startsWith('file://')) return new FileStorage(url);
  throw new Error(`unsupported storage URL scheme: ${url.split(':', 1)[0]}`);
}
