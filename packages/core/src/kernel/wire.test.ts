// The wire format and signatures, checked against jupyter_client's own Session (from the venv):
// what it signs we accept, what we sign it accepts, and a changed byte is refused.
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireVenv, VENV_PYTHON } from '../../../../templates/runtime/job-harness.js';
import {
  DELIMITER,
  joinFrames,
  MessageFactory,
  parseHeader,
  Signer,
  splitFrames,
  WireError,
} from './wire.js';

const KEY = 'c0ffee00-1111-4222-8333-444455556666';

// Serialises a message with jupyter_client (frames as hex, one per line), or checks ours.
const SESSION_PY = String.raw`
import sys
from jupyter_client.session import Session
s = Session(key=sys.argv[2].encode(), signature_scheme="hmac-sha256")
if sys.argv[1] == "make":
    msg = s.msg("execute_request", content={"code": "print('hi ü')"}, parent={"msg_id": "p1"})
    for f in s.serialize(msg, ident=[b"client-1"]):
        print(f.hex())
else:
    frames = [bytes.fromhex(l) for l in sys.stdin.read().split()]
    idents, rest = s.feed_identities(frames)
    m = s.deserialize(rest)
    print(m["header"]["msg_type"], m["content"]["text"], m["parent_header"]["msg_id"])
`;

function python(args: string[], input?: string): string {
  return execFileSync(VENV_PYTHON, ['-c', SESSION_PY, ...args], {
    encoding: 'utf8',
    ...(input === undefined ? {} : { input }),
  });
}

beforeAll(() => {
  requireVenv();
});

describe('the Jupyter wire format', () => {
  it("accepts jupyter_client's signed messages and keeps their frames as they are", () => {
    const frames = python(['make', KEY])
      .trim()
      .split('\n')
      .map((h) => Buffer.from(h, 'hex'));
    const m = splitFrames(frames);
    expect(m.identities.map((i) => i.toString())).toEqual(['client-1']);
    expect(parseHeader(m.header).msg_type).toBe('execute_request');
    expect(new Signer(KEY).verify(m)).toBe(true);
    expect(Buffer.concat(joinFrames(m))).toEqual(Buffer.concat(frames));
    expect(new Signer('another key').verify(m)).toBe(false);
    const tampered = { ...m, content: Buffer.from(m.content.toString().replace('hi', 'ho')) };
    expect(new Signer(KEY).verify(tampered)).toBe(false);
  });

  it('makes messages jupyter_client accepts', () => {
    const factory = new MessageFactory(new Signer(KEY));
    const frames = factory.make({
      msgType: 'stream',
      content: { name: 'stderr', text: 'wait ü' },
      parentHeader: Buffer.from(JSON.stringify({ msg_id: 'p2' })),
      identities: [Buffer.from('topic')],
    });
    const out = python(['check', KEY], frames.map((f) => f.toString('hex')).join('\n'));
    expect(out.trim()).toBe('stream wait ü p2');
    const header = parseHeader(splitFrames(frames).header);
    expect(header).toMatchObject({ msg_type: 'stream', version: '5.3', session: factory.session });
  });

  it('refuses what is not a message, and leaves messages unsigned without a key', () => {
    expect(() => splitFrames([Buffer.from('a'), Buffer.from('b')])).toThrow(WireError);
    expect(() => splitFrames([DELIMITER, Buffer.from('sig')])).toThrow(/fewer than five/);
    expect(() => parseHeader(Buffer.from('[]'))).toThrow(WireError);
    const unsigned = new MessageFactory(new Signer('')).make({ msgType: 'status', content: {} });
    expect(splitFrames(unsigned).signature.length).toBe(0);
    expect(new Signer('').verify(splitFrames(unsigned))).toBe(true);
    expect(() => new Signer(KEY, 'md5')).toThrow(/unsupported/);
  });
});
