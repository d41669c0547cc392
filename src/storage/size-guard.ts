import { Transform, type TransformCallback } from 'node:stream';

/**
 * Counts the bytes on their way to storage and fails the stream as soon as they cannot match the
 * announced size: too many at once, too few at the end, before the upload can complete.
 */
export class SizeGuard extends Transform {
  bytes = 0;

  constructor(private readonly expected?: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.expected !== undefined && this.bytes > this.expected) {
      done(this.mismatch('more'));
      return;
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    done(this.expected !== undefined && this.bytes !== this.expected ? this.mismatch('only') : null);
  }

  private mismatch(how: 'more' | 'only'): Error {
    return new Error(`expected ${this.expected} bytes, the stream had ${how === 'more' ? 'more' : `only ${this.bytes}`}`);
  }
}
