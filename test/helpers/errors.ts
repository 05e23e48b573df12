import { strict as assert } from 'node:assert';
import * as path from 'node:path';
import { CheckpointError } from '../../src/core/errors';
import { openCheckpoint } from '../../src/core/formats/registry';

/**
 * Asserts that opening `file` (or `options.opening`, when given) fails with a CheckpointError of
 * kind `problem` (or one of several, for inputs cut at arbitrary points) whose message names the
 * file first (`options.named`: the file at fault, e.g. one shard of a set) and matches `pattern`;
 * returns the error.
 */
export async function expectCheckpointError(
  file: string,
  problem: CheckpointError['problem'] | readonly CheckpointError['problem'][],
  pattern: RegExp,
  options: { opening?: Promise<unknown>; named?: string } = {},
): Promise<CheckpointError> {
  const named = options.named ?? file;
  const error = await (options.opening ?? openCheckpoint(file)).then(
    () => assert.fail(`${path.basename(file)} should be rejected`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof CheckpointError, `a CheckpointError, not ${String(error)}`);
  assert.equal(error.file, named);
  if (typeof problem === 'string') assert.equal(error.problem, problem, error.message);
  else assert.ok(problem.includes(error.problem), `${error.problem} is one of ${problem.join(', ')}: ${error.message}`);
  assert.match(error.message, pattern);
  assert.ok(error.message.startsWith(named + ': '), 'the message names the file first');
  return error;
}
