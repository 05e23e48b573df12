import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { CheckpointError, printable } from '../../src/core/errors';
import { makeTempDir, runCli } from '../helpers/fixtures';

/** Printable on one line: no control, format (bidi override), private-use, unassigned or surrogate code point, no U+FFFD. */
const ONE_PRINTABLE_LINE = /^[^\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Cs}\u2028\u2029\ufffd]*$/u;

describe('error messages: one printable line whatever the file holds', () => {
  it('escapes control characters, line breaks and bidirectional overrides, by hand-written expectations', () => {
    assert.equal(printable('a\nb\r\tc\u0000d\u001b[2J'), 'a\\nb\\r\\tc\\x00d\\x1b[2J');
    assert.equal(printable('\u202egnp.exe'), '\\u202egnp.exe');
    assert.equal(printable('plain text, ünïcode ✓'), 'plain text, ünïcode ✓');
    assert.equal(printable('x'.repeat(10), 5), 'xxxx…');
    assert.equal(printable('bad \ufffd\ud800 \u{f0000} text'), 'bad \\ufffd\\ud800 \\u{f0000} text');
    assert.equal(printable('ab\u{1f600}cd', 4), 'ab…', 'an emoji is not cut in half');
  });

  it('a CheckpointError names the file and quotes content escaped and bounded', () => {
    const e = new CheckpointError('/tmp/evil\nname.pt', 'corrupt', `tensor "a\u0000b\r" ${'z'.repeat(5000)}`, 12);
    assert.match(e.message, ONE_PRINTABLE_LINE);
    assert.ok(e.message.startsWith('/tmp/evil\\nname.pt: tensor "a\\x00b\\r" zzz'), e.message.slice(0, 60));
    assert.ok(e.message.length < 1600, `${e.message.length} characters`);
    assert.ok(e.message.endsWith('… (at byte 12)'));
  });

  it('the CLI prints one line for a file whose name holds a newline and whose bytes are no checkpoint', () => {
    const tmp = makeTempDir();
    try {
      const file = tmp.write('bad\nname\u001b.safetensors', new Uint8Array([8, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0, 0x0d, 0x7d, 0, 0, 0, 0]));
      const r = runCli(['report', file, '--json']);
      assert.equal(r.code, 2, r.stderr);
      const lines = r.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], ONE_PRINTABLE_LINE);
      assert.ok(lines[0].startsWith(`error: ${path.dirname(file)}/bad\\nname\\x1b.safetensors: `), lines[0]);
    } finally {
      tmp.remove();
    }
  });
});
