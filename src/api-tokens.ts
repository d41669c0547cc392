import { resolve } from 'node:path';
import { adminToken } from './admin-token.ts';
import { sha256Hex, type TokenRecord } from './api/auth.ts';
import type { Config } from './config.ts';
import type { Log } from './logger.ts';

/** The API tokens the config names, plus the generated admin token when it names none. */
export function apiTokens(config: Config, log: Log): TokenRecord[] {
  const tokens = config.auth.tokens.map((t) => ({ name: t.name, role: t.role, sha256: t.sha256 ?? sha256Hex(t.token!) }));
  const generated = adminToken(config.auth.adminTokenFile, tokens.length === 0 && !config.auth.anonymousRole);
  if (generated) {
    tokens.push({ name: 'admin', role: 'admin', sha256: sha256Hex(generated.token) });
    if (generated.created)
      log.info({ file: resolve(config.auth.adminTokenFile) }, 'generated the admin API token (readable by root only)');
  }
  return tokens;
}
