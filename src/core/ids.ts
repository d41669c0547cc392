import { randomBytes } from 'node:crypto';

const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';

export type IdPrefix = 'run' | 'bk' | 'rs';

/** 130 random bits as 26 base32 characters after a type prefix: unguessable, and never a word like `last`. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${Array.from(randomBytes(26), (b) => alphabet[b & 31]).join('')}`;
}

export function idPattern(prefix: IdPrefix): RegExp {
  return new RegExp(`^${prefix}_[${alphabet}]{26}$`);
}
