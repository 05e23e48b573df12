// Injected write faults: every writing command, its file layer told to fail a create, write,
// fsync, rename or staging-folder step with ENOSPC, EACCES or EIO, or to find its output folder
// removed. Each case must end in one clear error naming the file, with nothing left at the
// output paths, no staging folder, and the input intact.
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { parseWriteTest, WRITE_FAULTS, WRITE_STEPS, type WriteFault } from '../../../src/core/outputFiles';
import { CLI, makeTempDir } from '../../helpers/fixtures';
import { EDITOR_EXPORT, folderDigests, referenceRun, runInto, setUpCommand, WRITING_COMMANDS } from '../../helpers/writingCommands';

const EXPECTED_DETAIL: Record<WriteFault, RegExp> = {
  ENOSPC: /: no space left on device \(ENOSPC\)$/,
  EACCES: /: permission denied \(EACCES\)$/,
  EIO: /: input\/output error \(EIO\)$/,
  'folder-removed': /: no such (file or folder \(ENOENT\)|folder .+)$/,
};

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('write faults: a failed create, write, fsync or rename is one clear error and leaves nothing', function () {
  this.timeout(0);
  let temp: ReturnType<typeof makeTempDir>;
  before(() => {
    assert.ok(existsSync(CLI), 'npm run build first');
    assert.ok(existsSync(EDITOR_EXPORT), 'npm run compile-tests first');
    temp = makeTempDir();
  });
  after(() => temp.remove());

  it('the test setting is parsed strictly', () => {
    assert.deepEqual(parseWriteTest('fail:rename:2:EIO'), { kind: 'fail', step: 'rename', nth: 2, fault: 'EIO' });
    assert.deepEqual(parseWriteTest('stop:7'), { kind: 'stop', before: 7 });
    assert.equal(parseWriteTest(undefined), undefined);
    assert.throws(() => parseWriteTest('fail:rename:2:EPERM'), /expected trace, stop:N or fail:STEP:N:CODE/);
    assert.throws(() => parseWriteTest('fail:unlink:1:EIO'), /SPARSITY_LENS_TEST_WRITES=fail:unlink:1:EIO/);
  });

  for (const command of WRITING_COMMANDS) {
    it(`${command.name}: every step kind × ENOSPC, EACCES, EIO and a removed output folder`, () => {
      const setup = setUpCommand(command, temp.dir);
      const { inputFolder, outputs, inputDigests } = setup;
      const { expected, steps } = referenceRun(command, setup);

      let cases = 0;
      for (const kind of WRITE_STEPS) {
        const count = steps.filter((l) => l.split(' ')[1] === kind).length;
        assert.ok(count > 0, `the write has a ${kind} step`);
        // The first, a middle and the last step of the kind, each with every fault in turn.
        const nths = [...new Set([1, Math.ceil(count / 2), count])];
        WRITE_FAULTS.forEach((fault, i) => {
          const nth = nths[i % nths.length];
          const setting = `fail:${kind}:${nth}:${fault}`;
          const r = runInto(setup, { SPARSITY_LENS_TEST_WRITES: setting });
          cases++;
          assert.equal(r.status, 1, `${setting}: exit code 1\n${r.stderr}`);
          const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
          assert.equal(errors.length, 1, `${setting}: one error line\n${r.stderr}`);
          const named = command.outputs.map((o) => escape(path.join(outputs, o))).join('|');
          assert.match(errors[0], new RegExp(`^error: cannot write (${named}): `), setting);
          assert.match(errors[0], EXPECTED_DETAIL[fault], setting);
          assert.doesNotMatch(r.stderr, /unexpected failure|\n\s+at /, `${setting}: no stack trace`);

          // Nothing at the output paths but the run's complete earlier checkpoints, no staging folder.
          const left = existsSync(outputs) ? readdirSync(outputs) : [];
          for (const name of left) {
            assert.ok(/\.step\d+\.onnx$/.test(name), `${setting}: ${name} was left`);
            assert.equal(folderDigests(outputs)[name], expected[name], `${setting}: ${name} is a complete earlier checkpoint`);
          }
          assert.deepEqual(folderDigests(inputFolder), inputDigests, `${setting}: the input is intact`);
        });
      }
      assert.ok(cases >= 20);
    });
  }
});
