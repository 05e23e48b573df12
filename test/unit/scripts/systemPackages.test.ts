// The test runner's handling of the browser tiers' Debian packages (scripts/vscode/systemPackages.cjs):
// the decision, the lookups on PATH, and the install through apt-get and sudo, run against fake
// apt-get and sudo commands on a PATH of their own, so nothing is installed or removed here.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { makeTempDir, REPO } from '../../helpers/fixtures';

type Decision =
  | { action: 'ready' }
  | { action: 'skip'; what: string }
  | { action: 'install'; packages: string[]; sudo: boolean; line: string }
  | { action: 'fail'; line: string };

interface SystemPackagesModule {
  findChromium(env: NodeJS.ProcessEnv): string | undefined;
  missingPackages(env: NodeJS.ProcessEnv): string[];
  decide(facts: { missing: string[]; skip: boolean; root: boolean; sudo: boolean; aptGet: boolean }): Decision;
  ensureSystemPackages(options: {
    env: NodeJS.ProcessEnv;
    skip: boolean;
    root: boolean;
    sudo: () => boolean;
    log: (line: string) => void;
  }): Decision;
}

const systemPackages = require(path.join(REPO, 'scripts', 'vscode', 'systemPackages.cjs')) as SystemPackagesModule;

/** A PATH of one empty folder, and ways to put commands in it. */
function fakePath() {
  const temp = makeTempDir();
  const bin = path.join(temp.dir, 'bin');
  mkdirSync(bin);
  const calls = path.join(temp.dir, 'calls.log');
  /** A command that runs `body` (JavaScript, with `args` and `record(line)`) under this Node. */
  const command = (name: string, body: string) => {
    const file = path.join(bin, name);
    writeFileSync(
      file,
      `#!${process.execPath}\nconst fs = require('node:fs');\nconst args = process.argv.slice(2);\n` +
        `const record = (line) => fs.appendFileSync(${JSON.stringify(calls)}, line + '\\n');\n${body}\n`,
    );
    chmodSync(file, 0o755);
  };
  /**
   * A fake apt-get: records "DEBIAN_FRONTEND args"; `install` puts each package's command in the
   * folder (unless `installs` is false), `fail` makes every call exit with 100.
   */
  const aptGet = ({ installs = true, fail = false } = {}) =>
    command(
      'apt-get',
      `record((process.env.DEBIAN_FRONTEND ?? '-') + ' ' + args.join(' '));\n` +
        (fail ? `process.stderr.write('E: Unable to locate package\\n'); process.exit(100);\n` : '') +
        `const commands = { chromium: 'chromium', ripgrep: 'rg' };\n` +
        `if (${installs} && args[0] === 'install') for (const p of args.slice(2)) {\n` +
        `  const f = ${JSON.stringify(bin)} + '/' + commands[p];\n` +
        `  fs.writeFileSync(f, '#!/bin/sh\\n'); fs.chmodSync(f, 0o755);\n}`,
    );
  /** A fake sudo: records its arguments, then runs `sudo -n env VAR=value command…` as env(1) would. */
  const sudo = () =>
    command(
      'sudo',
      `record('sudo ' + args.join(' '));\n` +
        `if (args[0] !== '-n' || args[1] !== 'env') process.exit(1);\n` +
        `const [key, value] = args[2].split('=');\n` +
        `const r = require('node:child_process').spawnSync(args[3], args.slice(4), { env: { ...process.env, [key]: value }, stdio: 'inherit' });\n` +
        `process.exit(r.status ?? 1);`,
    );
  return {
    env: { PATH: bin } as NodeJS.ProcessEnv,
    bin,
    command,
    aptGet,
    sudo,
    calls: () => (existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n') : []),
    remove: temp.remove,
  };
}

describe('scripts: the browser tiers’ system packages', () => {
  describe('decide', () => {
    const facts = { missing: ['chromium', 'ripgrep'], skip: false, root: false, sudo: false, aptGet: true };

    it('has nothing to do when nothing is missing, whatever else holds', () => {
      assert.deepEqual(systemPackages.decide({ ...facts, missing: [], skip: true }), { action: 'ready' });
      assert.deepEqual(systemPackages.decide({ ...facts, missing: [] }), { action: 'ready' });
    });

    it('installs the missing packages as root, with apt-get alone', () => {
      assert.deepEqual(systemPackages.decide({ ...facts, root: true }), {
        action: 'install',
        packages: ['chromium', 'ripgrep'],
        sudo: false,
        line: 'the browser tiers need chromium, ripgrep: installing with apt-get update && apt-get install -y chromium ripgrep',
      });
    });

    it('installs through sudo when sudo needs no password, only what is missing', () => {
      assert.deepEqual(systemPackages.decide({ ...facts, missing: ['ripgrep'], sudo: true }), {
        action: 'install',
        packages: ['ripgrep'],
        sudo: true,
        line: 'the browser tiers need ripgrep: installing with sudo apt-get update && sudo apt-get install -y ripgrep',
      });
    });

    it('fails with the command to run when it may not install', () => {
      assert.deepEqual(systemPackages.decide(facts), {
        action: 'fail',
        line: 'the browser tiers need chromium, ripgrep: run `sudo apt-get update && sudo apt-get install -y chromium ripgrep`, or set SPARSITY_LENS_SKIP_BROWSER=1 to skip them',
      });
    });

    it('fails, even as root, without apt-get', () => {
      const decision = systemPackages.decide({ ...facts, root: true, aptGet: false });
      assert.equal(decision.action, 'fail');
      assert.match((decision as { line: string }).line, /run `apt-get update && apt-get install -y chromium ripgrep`/);
    });

    it('never installs with SPARSITY_LENS_SKIP_BROWSER=1', () => {
      assert.deepEqual(systemPackages.decide({ ...facts, root: true, skip: true }), {
        action: 'skip',
        what: 'chromium, ripgrep (apt-get update && apt-get install -y chromium ripgrep)',
      });
    });
  });

  describe('lookups on PATH', () => {
    it('finds chromium (or chromium-browser) and rg only as executable files on PATH', () => {
      const p = fakePath();
      try {
        assert.deepEqual(systemPackages.missingPackages(p.env), ['chromium', 'ripgrep']);
        writeFileSync(path.join(p.bin, 'rg'), ''); // not executable
        assert.deepEqual(systemPackages.missingPackages(p.env), ['chromium', 'ripgrep']);
        chmodSync(path.join(p.bin, 'rg'), 0o755);
        assert.deepEqual(systemPackages.missingPackages(p.env), ['chromium']);
        mkdirSync(path.join(p.bin, 'chromium')); // a folder is not a command
        assert.deepEqual(systemPackages.missingPackages(p.env), ['chromium']);
        p.command('chromium-browser', '');
        assert.deepEqual(systemPackages.missingPackages(p.env), []);
        assert.equal(systemPackages.findChromium(p.env), path.join(p.bin, 'chromium-browser'));
      } finally {
        p.remove();
      }
    });

    it('takes SPARSITY_LENS_CHROMIUM over PATH when the file is there', () => {
      const p = fakePath();
      try {
        p.command('chromium', '');
        const own = path.join(p.bin, '..', 'own-chromium');
        assert.equal(systemPackages.findChromium({ ...p.env, SPARSITY_LENS_CHROMIUM: own }), undefined);
        writeFileSync(own, '');
        assert.equal(systemPackages.findChromium({ ...p.env, SPARSITY_LENS_CHROMIUM: own }), own);
      } finally {
        p.remove();
      }
    });
  });

  describe('ensureSystemPackages', () => {
    function ensure(p: ReturnType<typeof fakePath>, options: { root: boolean; sudo?: boolean; skip?: boolean }) {
      const printed: string[] = [];
      let sudoProbed = false;
      const sudo = () => {
        sudoProbed = true;
        return options.sudo ?? false;
      };
      const decision = systemPackages.ensureSystemPackages({
        env: p.env,
        skip: options.skip ?? false,
        root: options.root,
        sudo,
        log: (l) => printed.push(l),
      });
      return { decision, printed, sudoProbed };
    }

    it('as root, prints one line, runs apt-get update and install non-interactively, and is then ready', () => {
      const p = fakePath();
      try {
        p.aptGet();
        const { decision, printed, sudoProbed } = ensure(p, { root: true });
        assert.deepEqual(printed, [
          'the browser tiers need chromium, ripgrep: installing with apt-get update && apt-get install -y chromium ripgrep',
        ]);
        assert.deepEqual(p.calls(), ['noninteractive update', 'noninteractive install -y chromium ripgrep']);
        assert.deepEqual(decision, { action: 'ready' });
        assert.equal(sudoProbed, false, 'root needs no sudo');
        assert.deepEqual(systemPackages.missingPackages(p.env), []);
      } finally {
        p.remove();
      }
    });

    it('through passwordless sudo, passes DEBIAN_FRONTEND through env(1)', () => {
      const p = fakePath();
      try {
        p.aptGet();
        p.sudo();
        p.command('rg', '');
        const { decision, printed } = ensure(p, { root: false, sudo: true });
        const aptGet = path.join(p.bin, 'apt-get');
        assert.deepEqual(printed, [
          'the browser tiers need chromium: installing with sudo apt-get update && sudo apt-get install -y chromium',
        ]);
        assert.deepEqual(p.calls(), [
          `sudo -n env DEBIAN_FRONTEND=noninteractive ${aptGet} update`,
          'noninteractive update',
          `sudo -n env DEBIAN_FRONTEND=noninteractive ${aptGet} install -y chromium`,
          'noninteractive install -y chromium',
        ]);
        assert.deepEqual(decision, { action: 'ready' });
      } finally {
        p.remove();
      }
    });

    it('without root or sudo, installs nothing and gives the command', () => {
      const p = fakePath();
      try {
        p.aptGet();
        const { decision, printed } = ensure(p, { root: false, sudo: false });
        assert.deepEqual(printed, []);
        assert.deepEqual(p.calls(), []);
        assert.deepEqual(decision, {
          action: 'fail',
          line: 'the browser tiers need chromium, ripgrep: run `sudo apt-get update && sudo apt-get install -y chromium ripgrep`, or set SPARSITY_LENS_SKIP_BROWSER=1 to skip them',
        });
      } finally {
        p.remove();
      }
    });

    it('with SPARSITY_LENS_SKIP_BROWSER=1, neither installs nor asks sudo', () => {
      const p = fakePath();
      try {
        p.aptGet();
        const { decision, printed, sudoProbed } = ensure(p, { root: true, skip: true });
        assert.deepEqual([printed, p.calls(), sudoProbed], [[], [], false]);
        assert.equal(decision.action, 'skip');
      } finally {
        p.remove();
      }
    });

    it('when nothing is missing, runs nothing', () => {
      const p = fakePath();
      try {
        p.aptGet();
        p.command('chromium', '');
        p.command('rg', '');
        const { decision, printed, sudoProbed } = ensure(p, { root: false, sudo: true });
        assert.deepEqual([decision, printed, p.calls(), sudoProbed], [{ action: 'ready' }, [], [], false]);
      } finally {
        p.remove();
      }
    });

    it('fails with apt-get’s last words when apt-get fails', () => {
      const p = fakePath();
      try {
        p.aptGet({ fail: true });
        const { decision } = ensure(p, { root: true });
        assert.equal(decision.action, 'fail');
        assert.match(
          (decision as { line: string }).line,
          /^installing chromium, ripgrep failed: apt-get update failed \(exit 100\):\nE: Unable to locate package$/,
        );
      } finally {
        p.remove();
      }
    });

    it('fails when apt-get succeeds and the command is still missing', () => {
      const p = fakePath();
      try {
        p.aptGet({ installs: false });
        const { decision } = ensure(p, { root: true });
        assert.deepEqual(decision, {
          action: 'fail',
          line: 'after apt-get install -y chromium ripgrep, still not on PATH: chromium, ripgrep',
        });
      } finally {
        p.remove();
      }
    });
  });

  describe('scripts/run-tests.mjs', () => {
    it('skips the browser tiers with one line when SPARSITY_LENS_SKIP_BROWSER=1 and chromium is not on PATH', () => {
      const p = fakePath();
      try {
        p.aptGet();
        const r = spawnSync(process.execPath, [path.join(REPO, 'scripts', 'run-tests.mjs'), 'integration', 'e2e'], {
          cwd: REPO,
          env: { ...process.env, PATH: p.bin, SPARSITY_LENS_SKIP_BROWSER: '1', SPARSITY_LENS_CHROMIUM: '' },
          encoding: 'utf8',
          timeout: 60_000,
        });
        assert.equal(r.status, 0, r.stdout + r.stderr);
        assert.deepEqual(p.calls(), [], 'nothing is installed');
        assert.match(
          r.stdout,
          /^SKIPPING the integration tier \(SPARSITY_LENS_SKIP_BROWSER=1\): missing chromium, ripgrep \(.*apt-get install -y chromium ripgrep\)/m,
        );
        assert.match(r.stdout, /^SKIPPING the e2e tier /m);
        assert.match(r.stdout, /\n0 passed, 0 failed\n$/);
      } finally {
        p.remove();
      }
    });
  });
});
