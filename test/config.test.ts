import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../src/config.ts';

describe('config', () => {
  test('embedded defaults need nothing installed', () => {
    const c = loadConfig({});
    expect(c.listen).toBe('127.0.0.1:8080');
    expect(c.database).toBe('./var/rearguard.db');
    expect(c.storage.url).toBe('file://./var/backups');
    expect(c.auth.adminTokenFile).toBe('./var/admin.token');
    expect(c.inventory).toBeUndefined();
    expect(c.targets).toEqual({ undercloud: { group: 'Undercloud' }, overcloud: { group: 'Controller' } });
    expect(c.auth.anonymousRole).toBeUndefined();
    expect(c.boot).toMatchObject({ root: './var/tftp', tftpListen: '127.0.0.1:6969' });
    expect(c.boot.httpUrl).toBeUndefined();
    expect(c.power.driver).toBe('manual');
    expect(c.http).toEqual({ maxUrlBytes: 8192, maxHeaderBytes: 16_384, maxBodyBytes: 1_048_576 });
  });

  test('REARGUARD_TFTP_LISTEN overrides where the TFTP boot server listens', () => {
    expect(loadConfig({ REARGUARD_TFTP_LISTEN: '192.0.2.1:69' }).boot.tftpListen).toBe('192.0.2.1:69');
  });

  test('a YAML file selected by REARGUARD_CONFIG, with REARGUARD_LISTEN winning over it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rearguard-config-'));
    try {
      const file = join(dir, 'rearguard.yml');
      writeFileSync(file, 'listen: 0.0.0.0:9000\ndataDir: /srv/rearguard\nbackup:\n  rear:\n    MODULES: [no_modules]\n');
      const c = loadConfig({ REARGUARD_CONFIG: file, REARGUARD_LISTEN: '127.0.0.1:9100' });
      expect(c.listen).toBe('127.0.0.1:9100');
      expect(c.database).toBe('/srv/rearguard/rearguard.db');
      expect(c.backup.rear).toEqual({ MODULES: ['no_modules'] });
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  test.each([
    [{ listen: 'everywhere' }, /^invalid config \(t\): listen: expected host:port/],
    [{ storage: { url: 'ftp://x' } }, /: storage\.url: /],
    [{ backup: { services: ['ok', 'rm -rf /'] } }, /: backup\.services\.1: not a service name/],
    [{ backup: { rear: { 'bad name': 'x' } } }, /: backup\.rear\.bad name: /],
    [{ auth: { tokens: [{ name: 'a', role: 'admin' }] } }, /: auth\.tokens\.0: give exactly one of sha256 or token/],
    [{ auth: { tokens: [{ name: 'a', role: 'root', token: 'x'.repeat(20) }] } }, /: auth\.tokens\.0\.role: /],
    [{ backup: { stagingdir: '/x' } }, /: backup: Unrecognized key: "stagingdir"/],
    [{ boot: { tftpListen: 'tftp' } }, /: boot\.tftpListen: expected host:port/],
    [{ power: { driver: 'command' } }, /: power\.command: the command power driver needs power\.command\.network/],
    [{ power: { driver: 'ipmi' } }, /: power\.ipmi: the ipmi power driver needs power\.ipmi\.passwordFile/],
    [{ power: { driver: 'wol' } }, /: power\.driver: /],
    [{ http: { maxUrlBytes: 10 } }, /: http\.maxUrlBytes: /],
  ])('rejects %j with one line naming the field', (raw, message) => {
    expect(() => parseConfig(raw, 't')).toThrow(ConfigError);
    try {
      parseConfig(raw, 't');
    } catch (err) {
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain('\n');
    }
  });

  test('a missing or unparsable file is a clear error', () => {
    expect(() => loadConfig({ REARGUARD_CONFIG: '/nonexistent/rearguard.yml' })).toThrow(/cannot read config file \/nonexistent/);
    const dir = mkdtempSync(join(tmpdir(), 'rearguard-config-'));
    try {
      writeFileSync(join(dir, 'bad.yml'), 'listen: [unclosed\n');
      expect(() => loadConfig({ REARGUARD_CONFIG: join(dir, 'bad.yml') })).toThrow(/is not valid YAML/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
