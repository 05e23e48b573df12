// Kill every write: each writing command is SIGKILLed (its whole process group, workers
// included) at least 50 times, at every step of its write (frozen just before the step by the
// file layer's test hook) and at random moments; after each kill the output is nothing or the
// complete file, the input is untouched, and a rerun succeeds and leaves no staging folder.
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { removeStaleStaging } from '../../../src/core/prune/stagedOutput';
import { CLI, makeTempDir } from '../../helpers/fixtures';
import { EDITOR_EXPORT, folderDigests, referenceRun, setUpCommand, WRITING_COMMANDS } from '../../helpers/writingCommands';

const KILLS_PER_COMMAND = 50;
const STAGING = /^\.sparsity-lens-\d+-/;

/** Whether a process of group `pgid` still runs (a zombie does not: it waits to be reaped, which can take seconds here). */
function groupRunning(pgid: number): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // After the command's closing parenthesis: state, ppid, pgrp.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true;
  }
  return false;
}

/** Starts `argv` as its own process group and SIGKILLs the group, at step `stopBefore` of its write or after `delayMs`. */
async function runAndKill(
  argv: readonly string[],
  log: string,
  at: { stopBefore: number } | { delayMs: number },
): Promise<'killed' | 'finished'> {
  rmSync(log, { force: true });
  const env = {
    ...process.env,
    SPARSITY_LENS_TEST_WRITES_LOG: log,
    ...('stopBefore' in at ? { SPARSITY_LENS_TEST_WRITES: `stop:${at.stopBefore}` } : {}),
  };
  const child = spawn(process.execPath, argv, { detached: true, stdio: 'ignore', env });
  let finished = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => ((finished = true), resolve())));
  if ('stopBefore' in at) {
    const marker = `${at.stopBefore} `;
    const deadline = Date.now() + 30_000;
    while (
      !finished &&
      !(
        existsSync(log) &&
        readFileSync(log, 'utf8')
          .split('\n')
          .some((l) => l.startsWith(marker))
      )
    ) {
      if (Date.now() > deadline) throw new Error(`step ${at.stopBefore} was not reached in 30 s`);
      await sleep(2);
    }
    assert.ok(!finished, `the run ended before step ${at.stopBefore}`);
  } else {
    await sleep(at.delayMs);
  }
  const wasFinished = finished;
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // The group is gone already: the run ended before the kill.
  }
  await exited;
  for (let i = 0; groupRunning(child.pid!) && i < 1000; i++) await sleep(5);
  assert.ok(!groupRunning(child.pid!), 'every process of the group is dead');
  return wasFinished ? 'finished' : 'killed';
}

describe('kill every write: SIGKILL at every step of every writing command', function () {
  this.timeout(0);
  let temp: ReturnType<typeof makeTempDir>;
  before(() => {
    assert.ok(existsSync(CLI), 'npm run build first');
    assert.ok(existsSync(EDITOR_EXPORT), 'npm run compile-tests first');
    temp = makeTempDir();
  });
  after(() => temp.remove());

  for (const command of WRITING_COMMANDS) {
    it(`${command.name}: nothing or the complete file, the input untouched, a clean rerun`, async () => {
      const setup = setUpCommand(command, temp.dir);
      const { inputFolder, outputs, log, inputDigests, argv } = setup;
      // The uninterrupted run: the reference bytes, the steps of its write and its duration.
      const { expected, steps, ms: duration } = referenceRun(command, setup);

      const rerun = withForce(argv);
      const tally = { killed: 0, complete: 0, nothing: 0, staleLeft: 0 };
      const stops = stopPoints(steps);
      for (let k = 0; k < Math.max(KILLS_PER_COMMAND, stops.length); k++) {
        rmSync(outputs, { recursive: true, force: true });
        spawnSync('mkdir', ['-p', outputs]);
        // First the chosen steps of the write in turn, then moments spread over the run's duration.
        const timed = KILLS_PER_COMMAND - stops.length;
        const at =
          k < stops.length ? { stopBefore: stops[k] } : { delayMs: Math.round(((k - stops.length + 0.5) / timed) * duration * 1.1) };
        const outcome = await runAndKill(argv, log, at);
        if (outcome === 'killed') tally.killed++;

        const listing = readdirSync(outputs);
        const stale = listing.filter((n) => STAGING.test(n));
        tally.staleLeft += stale.length;
        const main = command.outputs[0];
        for (const name of listing.filter((n) => !STAGING.test(n))) {
          assert.ok(command.outputs.includes(name), `${name} is not an output (kill ${k + 1}: ${JSON.stringify(at)})`);
          assert.equal(
            folderDigests(outputs)[name],
            expected[name],
            `${name} holds the complete file (kill ${k + 1}: ${JSON.stringify(at)})`,
          );
        }
        if (listing.includes(main)) tally.complete++;
        else tally.nothing++;
        assert.deepEqual(folderDigests(inputFolder), inputDigests, 'the input is untouched');

        // What any later write in the folder does first: the dead run's staging goes, and with it
        // the files it had renamed into place when the main one never followed.
        await removeStaleStaging(outputs);
        const left = readdirSync(outputs).sort();
        if (command.separateWrites)
          assert.deepEqual(left, listing.filter((n) => !STAGING.test(n)).sort(), `each written file stays (kill ${k + 1})`);
        else
          assert.deepEqual(
            left,
            listing.includes(main) ? [...command.outputs].sort() : [],
            `all of the output or none of it (kill ${k + 1})`,
          );

        const again = spawnSync(process.execPath, rerun, { encoding: 'utf8' });
        assert.equal(again.status, 0, `the rerun succeeds after kill ${k + 1} (${JSON.stringify(at)}): ${again.stderr}`);
        assert.deepEqual(folderDigests(outputs), expected, `the rerun leaves the outputs and nothing else (kill ${k + 1})`);
      }
      assert.ok(tally.killed >= stops.length, `every kill at a step of the write landed (${tally.killed})`);
      assert.ok(tally.staleLeft > 0, 'some kills left a staging folder for the rerun to remove');
      console.log(
        `      ${command.name}: ${steps.length} write steps, ${tally.killed} kills landed, output after the kill: ${tally.nothing} nothing / ${tally.complete} complete; ${tally.staleLeft} dead staging folders removed by the rerun`,
      );
    });
  }
});

/**
 * The steps (1-based) to freeze the write before: every one when there are at most 50; else every
 * step that is not a write (folder, create, sync, rename) and writes spread evenly over the rest.
 */
function stopPoints(steps: readonly string[]): number[] {
  const all = steps.map((_, i) => i + 1);
  if (steps.length <= KILLS_PER_COMMAND) return all;
  const writes = all.filter((n) => steps[n - 1].split(' ')[1] === 'write');
  const others = all.filter((n) => !writes.includes(n));
  const room = Math.max(0, KILLS_PER_COMMAND - others.length);
  const spread = Array.from({ length: room }, (_, i) => writes[Math.floor(((i + 0.5) * writes.length) / room)]);
  return [...others, ...spread].sort((a, b) => a - b);
}

/** The same command with `--force` (the rerun finds a complete output when the kill came after the rename). */
function withForce(argv: readonly string[]): string[] {
  return argv[0] === EDITOR_EXPORT ? [...argv] : [...argv, '--force'];
}
