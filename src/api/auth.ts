import { createHash } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Role } from '../config.ts';
import { problemOf, problemResponse } from './problem.ts';

export interface Principal {
  name: string;
  role: Role;
}

/** A token as the daemon keeps it: by its sha256, never the token itself. */
export interface TokenRecord extends Principal {
  sha256: string;
}

export type AppEnv = { Variables: { principal: Principal; requestId: string } };

const rank: Record<Role, number> = { reader: 0, operator: 1, admin: 2 };

/** reader: reads; operator: starts and cancels runs; admin: deletes. */
function roleFor(method: string): Role {
  if (method === 'GET' || method === 'HEAD') return 'reader';
  if (method === 'DELETE') return 'admin';
  return 'operator';
}

export const sha256Hex = (token: string) => createHash('sha256').update(token).digest('hex');

/**
 * Bearer-token authentication and role checks. Tokens are compared by their sha256, so the table
 * holds no usable secret and no token is ever logged or echoed.
 */
export function requireToken(tokens: TokenRecord[], anonymousRole?: Role): MiddlewareHandler<AppEnv> {
  const byHash = new Map(tokens.map((t) => [t.sha256, { name: t.name, role: t.role }]));
  return async (c, next) => {
    const header = c.req.header('authorization');
    let principal: Principal | undefined;
    if (header) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
      principal = m ? byHash.get(sha256Hex(m[1]!)) : undefined;
      if (!principal) {
        c.header('WWW-Authenticate', 'Bearer realm="rearguard", error="invalid_token"');
        return problemResponse(c, problemOf('unauthorized', 'the API token is not valid'));
      }
    } else if (anonymousRole) {
      principal = { name: 'anonymous', role: anonymousRole };
    } else {
      c.header('WWW-Authenticate', 'Bearer realm="rearguard"');
      return problemResponse(c, problemOf('unauthorized', 'an API token is required: send Authorization: Bearer <token>'));
    }
    // Set before the role check: a refusal is logged with who was refused.
    c.set('principal', principal);
    const needed = roleFor(c.req.method);
    if (rank[principal.role] < rank[needed]) {
      return problemResponse(
        c,
        problemOf('forbidden', `${c.req.method} needs the ${needed} role; token '${principal.name}' has ${principal.role}`),
      );
    }
    await next();
  };
}
