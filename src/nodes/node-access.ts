import type { NodeAccess } from '../core/ports.ts';
import { openLocalSession } from './local-node.ts';
import { openSshSession, type HostKeyPins } from './ssh-node.ts';

export function nodeAccess(pins: HostKeyPins): NodeAccess {
  return {
    open: async (host) => (host.connection === 'local' ? openLocalSession() : openSshSession(host, pins)),
  };
}
