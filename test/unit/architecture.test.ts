import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO } from '../helpers/fixtures';

/** One import or re-export of a source file: where it points and whether it survives compilation. */
interface Import {
  readonly from: string;
  /** Resolved file (without extension) for relative imports, else the bare module name. */
  readonly target: string;
  /** `import type`, or every named specifier marked `type`: erased from the compiled code. */
  readonly typeOnly: boolean;
}

const IMPORT = /^(?:import|export)\s+(type\s+)?(?:([\s\S]*?)\s+from\s+)?['"]([^'"]+)['"]/gm;

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const out: Import[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const [, typeKeyword, clause = '', spec] = m;
    const named = /^\{([\s\S]*)\}$/.exec(clause.trim());
    const typeOnly =
      !!typeKeyword ||
      (!!named &&
        named[1]
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
          .every((s) => s.startsWith('type ')));
    const target = spec.startsWith('.') ? path.relative(REPO, path.resolve(path.dirname(file), spec)) : spec;
    out.push({ from: path.relative(REPO, file), target, typeOnly });
  }
  return out;
}

function sourceFiles(folder: string): string[] {
  const dir = path.join(REPO, folder);
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => path.join(dir, f));
}

const SRC = sourceFiles('src');
const imports = SRC.flatMap(importsOf);

describe('architecture', () => {
  it('nothing in src/core or src/kernels imports vscode or touches the DOM', () => {
    for (const file of [...sourceFiles('src/core'), ...sourceFiles('src/kernels'), ...sourceFiles('src/rpc')]) {
      const text = readFileSync(file, 'utf8');
      const name = path.relative(REPO, file);
      assert.doesNotMatch(text, /from ['"]vscode['"]|require\(['"]vscode['"]\)/, `${name} imports vscode`);
      assert.doesNotMatch(text, /(?<![.\w])(document|window)\./, `${name} uses the DOM`);
    }
  });

  it('the core imports no kernel implementation, extension, CLI or webview code', () => {
    const forbidden = /^src\/(extension|cli|webview)\/|^src\/kernels\/(native|reference)\/|^src\/kernels\/createKernels$/;
    for (const i of imports.filter((i) => i.from.startsWith('src/core/'))) {
      assert.doesNotMatch(i.target, forbidden, `${i.from} imports ${i.target}`);
      if (i.target.startsWith('src/kernels/')) assert.ok(i.typeOnly, `${i.from} takes kernels as interfaces only, not ${i.target}`);
    }
  });

  it('each protocol file is a leaf: it imports only types, from below', () => {
    const protocols = ['src/kernels/native/workerProtocol.ts', 'src/webview/protocol.ts'];
    for (const protocol of protocols) {
      const own = imports.filter((i) => i.from === protocol);
      assert.ok(own.length > 0, `${protocol} exists and names its message types`);
      for (const i of own) {
        assert.ok(i.typeOnly, `${protocol} imports ${i.target} at run time`);
        assert.doesNotMatch(i.target, /^src\/(extension|cli)\//, `${protocol} imports upward: ${i.target}`);
      }
    }
  });

  it('no cycles between folders (imports that remain at run time)', () => {
    const folderOf = (file: string) => path.dirname(file);
    const edges = new Map<string, Set<string>>();
    for (const i of imports) {
      if (i.typeOnly || !i.target.startsWith('src/')) continue;
      const a = folderOf(i.from);
      const b = folderOf(i.target);
      if (a === b) continue;
      if (!edges.has(a)) edges.set(a, new Set());
      edges.get(a)!.add(b);
    }
    const state = new Map<string, 'open' | 'done'>();
    const visit = (folder: string, trail: string[]): void => {
      if (state.get(folder) === 'done') return;
      assert.notEqual(state.get(folder), 'open', `folders import each other: ${[...trail, folder].join(' → ')}`);
      state.set(folder, 'open');
      for (const next of edges.get(folder) ?? []) visit(next, [...trail, folder]);
      state.set(folder, 'done');
    };
    for (const folder of edges.keys()) visit(folder, []);
  });

  it('readers never read a whole checkpoint with readFile', () => {
    for (const file of SRC) assert.doesNotMatch(readFileSync(file, 'utf8'), /readFile(Sync)?\(/, path.relative(REPO, file));
  });
});
