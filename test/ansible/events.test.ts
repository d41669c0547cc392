import { describe, expect, it } from 'vitest';
import { failureMessage, parseEventLine } from '../../src/ansible/events.ts';

const line = (o: object) => JSON.stringify(o);

describe('parseEventLine', () => {
  it('ignores non-event lines and remembers the play', () => {
    const state = { play: '' };
    expect(parseEventLine('[WARNING]: something', state)).toBeNull();
    expect(parseEventLine('{not json', state)).toBeNull();
    expect(parseEventLine(line({ _event: 'v2_playbook_on_play_start', play: { name: 'rearguard backup' } }), state)).toEqual([]);
    expect(state.play).toBe('rearguard backup');
  });

  it('strips the role prefix from task names', () => {
    const state = { play: 'p' };
    const [e] = parseEventLine(
      line({
        _event: 'v2_playbook_on_task_start',
        _timestamp: 't',
        task: { name: 'rear_image : image: rear mkbackup', id: 'x' },
      }),
      state,
    )!;
    expect(e).toEqual({ type: 'task_start', at: 't', play: 'p', task: 'image: rear mkbackup', taskId: 'x' });
  });

  it('turns a failed command into its message and stderr tail', () => {
    const [e] = parseEventLine(
      line({
        _event: 'v2_runner_on_failed',
        _timestamp: 't',
        task: { name: 'image: rear mkbackup', id: 'x' },
        hosts: {
          n1: { failed: true, changed: true, msg: 'non-zero return code', rc: 1, stderr: 'a\nERROR: boom', stdout: 'progress' },
        },
      }),
      { play: '' },
    )!;
    expect(e).toMatchObject({ type: 'host_failed', host: 'n1', changed: true, message: 'rc=1: a\nERROR: boom' });
  });
});

describe('failureMessage', () => {
  it('uses the first failed loop item', () => {
    expect(
      failureMessage({
        msg: 'One or more items failed',
        results: [{ failed: false }, { failed: true, msg: 'mariadb: no such service' }],
      }),
    ).toBe('mariadb: no such service');
  });

  it('keeps the connection error of an unreachable host', () => {
    expect(failureMessage({ unreachable: true, msg: 'Failed to connect to the host via ssh: No route to host' })).toBe(
      'Failed to connect to the host via ssh: No route to host',
    );
  });

  it('falls back to stdout when stderr is empty', () => {
    expect(failureMessage({ msg: 'non-zero return code', rc: 2, stdout: 'x\ny', stderr: '' })).toBe('rc=2: x\ny');
  });
});
