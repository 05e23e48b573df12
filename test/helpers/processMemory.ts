// Peak memory of processes, read from Linux's /proc: VmHWM ("high water mark") is the most
// resident memory a process has had since it started.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

export const MiB = 2 ** 20;

function statusField(pid: number, field: string): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined; // gone
  }
  const m = new RegExp(`^${field}:\\s*(\\d+) kB`, 'm').exec(status);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** Peak resident bytes of process `pid` so far (VmHWM), or undefined once it has gone. */
export function peakRss(pid: number): number | undefined {
  return statusField(pid, 'VmHWM');
}

/** Whether process `pid` exists and is not a zombie. */
export function isRunning(pid: number): boolean {
  try {
    return !/^State:\s*Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** CPU time (user + system) process `pid` has used, in clock ticks; undefined once it has gone. */
export function cpuTicks(pid: number): number | undefined {
  try {
    // Fields after the command (which may hold spaces) start after its closing parenthesis.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** The processes under `pid` (children, grandchildren, …). */
function descendants(pid: number): number[] {
  const found: number[] = [];
  const walk = (p: number) => {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const task of tasks) {
      let children = '';
      try {
        children = readFileSync(`/proc/${p}/task/${task}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const c of children.split(' ').filter(Boolean).map(Number)) {
        found.push(c);
        walk(c);
      }
    }
  };
  walk(pid);
  return found;
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Whether this machine can measure: Linux's /proc, with VmHWM. */
export function canMeasure(): boolean {
  return process.platform === 'linux' && peakRss(process.pid) !== undefined;
}

export interface MeasuredNodeRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly wallMs: number;
  /** The node process's own peak (its maxRSS at exit). */
  readonly peakBytes: number;
  /** The highest VmHWM seen of each process it started, keyed by a part of the command line ("kernelWorker.js"). */
  readonly childPeakBytes: ReadonlyMap<string, number>;
  /** GNU time's %M of the whole run (the largest of the process and the children it waited for), when /usr/bin/time exists. */
  readonly timeMaxRssBytes?: number;
}

/**
 * Runs `node script args` and measures it: its own peak (maxRSS at exit, written by a --require
 * hook), the peak of the processes it starts (VmHWM, polled every `pollMs`: a child's peak is
 * seen unless it is reached in its last `pollMs`), and, under /usr/bin/time, GNU time's %M.
 */
export function runNodeMeasured(
  script: string,
  args: readonly string[],
  options: { readonly cwd: string; readonly childNames: readonly string[]; readonly pollMs?: number },
): Promise<MeasuredNodeRun> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sparsity-lens-measure-'));
  const hook = path.join(dir, 'peak.js');
  writeFileSync(hook, "process.on('exit', () => process.stderr.write(`\\nmaxRSS=${process.resourceUsage().maxRSS}\\n`));");
  const timeFile = path.join(dir, 'time.txt');
  const node = [process.execPath, '--require', hook, script, ...args];
  const useTime = existsSync('/usr/bin/time');
  const started = Date.now();
  const child = useTime
    ? spawn('/usr/bin/time', ['-f', '%M', '-o', timeFile, ...node], { cwd: options.cwd })
    : spawn(node[0], node.slice(1), { cwd: options.cwd });
  const childPeaks = new Map<string, number>();
  const poll = () => {
    for (const pid of descendants(child.pid!)) {
      const command = commandLine(pid);
      const name = options.childNames.find((n) => command.includes(n));
      const peak = name && peakRss(pid);
      if (name && peak) childPeaks.set(name, Math.max(childPeaks.get(name) ?? 0, peak));
    }
  };
  const timer = setInterval(poll, options.pollMs ?? 50);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearInterval(timer);
      const wallMs = Date.now() - started;
      const peak = /\nmaxRSS=(\d+)\n/.exec(stderr);
      stderr = stderr.replace(/\nmaxRSS=\d+\n/, '');
      let timeMaxRssBytes: number | undefined;
      if (useTime && existsSync(timeFile)) timeMaxRssBytes = Number(/(\d+)\s*$/.exec(readFileSync(timeFile, 'utf8'))?.[1]) * 1024;
      rmSync(dir, { recursive: true, force: true });
      resolve({
        code,
        stdout,
        stderr,
        wallMs,
        peakBytes: peak ? Number(peak[1]) * 1024 : NaN,
        childPeakBytes: childPeaks,
        ...(timeMaxRssBytes ? { timeMaxRssBytes } : {}),
      });
    });
  });
}
