// The hold queue and the stand-in's answers: pure, no sockets.
import { describe, expect, it } from 'vitest';
import { type HeldMessage, HoldQueue } from './hold-queue.js';
import { errorContent, isSilent, kernelInfoContent, standInAnswer } from './stand-in.js';

function held(type: string, bytes = 10): HeldMessage {
  return {
    channel: 'shell',
    identity: Buffer.from('id'),
    frames: [Buffer.alloc(bytes)],
    header: {
      msg_id: `${type}-${bytes}`,
      msg_type: type,
      session: 's',
      username: 'u',
      date: '',
      version: '5.3',
    },
    headerFrame: Buffer.from('{}'),
  };
}

describe('the hold queue', () => {
  it('keeps messages in order, takes some out, and refuses past its limit', () => {
    const q = new HoldQueue(100);
    expect(q.push(held('execute_request', 20))).toBe(true);
    expect(q.push(held('comm_msg', 20))).toBe(true);
    expect(q.push(held('execute_request', 30))).toBe(true);
    expect(q.push(held('execute_request', 40))).toBe(false);
    expect(q.size).toBe(3);
    const taken = q.take((m) => m.header.msg_type === 'execute_request');
    expect(taken.map((m) => m.header.msg_id)).toEqual(['execute_request-20', 'execute_request-30']);
    expect(q.push(held('execute_request', 40))).toBe(true);
    expect(q.drain().map((m) => m.header.msg_id)).toEqual(['comm_msg-20', 'execute_request-40']);
    expect(q.size).toBe(0);
  });
});

describe("the stand-in's answers", () => {
  const ctx = { banner: 'hpc-jupyter: test', version: '1.2.3' };

  it('answers questions at once and holds what has effects', () => {
    expect(standInAnswer('kernel_info_request', {}, ctx)).toEqual({
      kind: 'reply',
      msgType: 'kernel_info_reply',
      content: kernelInfoContent(ctx),
    });
    expect(kernelInfoContent(ctx)).toMatchObject({
      status: 'ok',
      protocol_version: '5.3',
      language_info: { name: 'python', file_extension: '.py' },
      banner: 'hpc-jupyter: test',
    });
    expect(standInAnswer('complete_request', { cursor_pos: 7 }, ctx)).toMatchObject({
      content: { status: 'ok', matches: [], cursor_start: 7, cursor_end: 7 },
    });
    expect(standInAnswer('is_complete_request', {}, ctx)).toMatchObject({
      content: { status: 'unknown' },
    });
    for (const held of ['execute_request', 'comm_open', 'comm_msg', 'usage_request']) {
      expect(standInAnswer(held, {}, ctx)).toEqual({ kind: 'hold' });
    }
    expect(isSilent({ silent: true })).toBe(true);
    expect(errorContent('E', 'why', 3).reply).toEqual({
      status: 'error',
      ename: 'E',
      evalue: 'why',
      traceback: ['E: why'],
      execution_count: 3,
    });
  });
});
