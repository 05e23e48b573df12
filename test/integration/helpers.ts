// Shared by the integration tests, which run inside code-server's extension host (see index.ts).
import { strict as assert } from 'node:assert';
import { appendFileSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { format } from 'node:util';
import * as vscode from 'vscode';
import type { SparsityLensApi } from '../../src/extension/extension';

/** The repository root (tests run from out/test/integration/). */
export const REPO = path.resolve(__dirname, '..', '..', '..');

interface PackageJson {
  readonly name: string;
  readonly publisher: string;
  readonly version: string;
  readonly contributes?: {
    readonly commands?: readonly { command: string; title: string; category?: string }[];
    readonly customEditors?: readonly { viewType: string; selector: readonly { filenamePattern: string }[] }[];
    readonly views?: Record<string, readonly { id: string; name: string }[]>;
  };
}

/** package.json as it is now, so new contributions are checked without touching the tests. */
export function packageJson(): PackageJson {
  return JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as PackageJson;
}

export const EXTENSION_ID = `${packageJson().publisher}.${packageJson().name}`;

/** The extension under test, activated. */
export async function activeExtension(): Promise<vscode.Extension<unknown>> {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(ext, `${EXTENSION_ID} is not loaded`);
  await ext.activate();
  return ext;
}

/** The API the extension's activate() returns (analyses, tree, editor). */
export async function extensionApi(): Promise<SparsityLensApi> {
  return (await activeExtension()).exports as SparsityLensApi;
}

/**
 * The opened workspace: a temporary copy of examples/ at its top and some test/fixtures files
 * under fixtures/ (scripts/vscode/codeServer.cjs makeWorkspace).
 */
export function workspaceRoot(): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'no workspace folder is open');
  return folder.uri;
}

export function workspaceFile(...parts: string[]): vscode.Uri {
  return vscode.Uri.joinPath(workspaceRoot(), ...parts);
}

/** A VS Code filename glob (`*.onnx`, `*.{onnx,safetensors}`, `**\/x.bin`) as a regular expression. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
      if (glob[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') re += '(?:';
    else if (c === '}') re += ')';
    else if (c === ',') re += '|';
    else re += c.replace(/[.+^$()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`(^|/)${re}$`, 'i');
}

/** Whether the extension's editors open a file of this name (any customEditors selector matches). */
export function isCheckpointName(name: string): boolean {
  const patterns = (packageJson().contributes?.customEditors ?? []).flatMap((e) => e.selector.map((s) => globToRegExp(s.filenamePattern)));
  return patterns.some((p) => p.test(name));
}

/** Every checkpoint of examples/ as it sits in the workspace, for tests that run per example. */
export async function exampleUris(): Promise<vscode.Uri[]> {
  const entries = await vscode.workspace.fs.readDirectory(workspaceRoot());
  return entries
    .filter(([name, type]) => type === vscode.FileType.File && isCheckpointName(name))
    .map(([name]) => workspaceFile(name))
    .sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * Prints a line in the runner's terminal, among mocha's output (console.log in the extension host
 * only reaches the browser's console, and the host ignores assignments to console.log).
 */
export function log(...args: unknown[]): void {
  const file = process.env.SPARSITY_LENS_INTEGRATION_LOG;
  if (file) appendFileSync(file, format(...args) + '\n');
  console.log(...args);
}

/** Polls `probe` until it returns something truthy; fails naming `what` (and `explain()`) after the timeout. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  options: { timeoutMs?: number; explain?: () => string } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` + (options.explain ? `\n${options.explain()}` : ''));
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function allTabs(): vscode.Tab[] {
  return vscode.window.tabGroups.all.flatMap((g) => g.tabs);
}

/** Closes every editor, so each test starts from an empty editor area. */
export async function closeAllEditors(): Promise<void> {
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
}

/** Opens `uri` with the custom editor `viewType` and waits for its tab. */
export async function openWithCustomEditor(uri: vscode.Uri, viewType: string): Promise<vscode.Tab> {
  await vscode.commands.executeCommand('vscode.openWith', uri, viewType);
  return waitFor(`a ${viewType} tab for ${uri.path}`, () =>
    allTabs().find(
      (t) => t.input instanceof vscode.TabInputCustom && t.input.viewType === viewType && t.input.uri.toString() === uri.toString(),
    ),
  );
}
