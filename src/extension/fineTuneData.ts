/**
 * Which arrays of a fine-tune's data file are what: the training inputs and labels and the test
 * set, taken by their default keys or picked in quick picks among the arrays that fit each role.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { formatCount, type TensorEntry } from '../core/checkpoint';
import { printable } from '../core/errors';
import { openCheckpoint } from '../core/formats/registry';
import { DEFAULT_KEYS, type DataKeys } from '../core/train/trainingData';
import type { TrainOptions } from '../cli/train';

/** Names from files are shown escaped, and `$(…)` is kept from being read as an icon. */
export const shown = (name: string) => printable(name).replace(/\$\(/g, '\\$(');

export interface ChosenArrays {
  /** The CLI's --x / --y / --test-x / --test-y for the arrays picked (the defaults otherwise). */
  readonly options: Pick<TrainOptions, 'x' | 'y' | 'test-x' | 'test-y'>;
  /** Roles chosen to be left out: no labels (distil), no test set. */
  readonly none: readonly (keyof DataKeys)[];
  readonly trainSamples: number | undefined;
}

interface ArrayInfo {
  /** The key (.npz) or the file name beside the data (.npy). */
  readonly key: string;
  readonly shape: readonly number[];
  readonly dtype: string;
}

const isInteger = (a: ArrayInfo) => /^u?int/.test(a.dtype);
const describeArray = (a: ArrayInfo) => `[${a.shape.join(', ')}] ${a.dtype}`;

/**
 * The arrays of the data, by role. A file with every default key (x_train, y_train, x_test,
 * y_test) is taken as it is; otherwise each missing role is picked among the arrays that fit it
 * (labels: integer, one per sample), or left out. With .npy data the file is the inputs and the
 * others are .npy files beside it. Undefined when the user cancels. `titled` heads each pick's
 * title ("Fine-tune digits.onnx").
 */
export async function chooseArrays(data: vscode.Uri, titled: string): Promise<ChosenArrays | undefined> {
  const npy = /\.npy$/i.test(data.fsPath);
  const arrays = npy ? await npyFilesBeside(data) : await npzArrays(data);
  const byKey = new Map(arrays.map((a) => [a.key, a]));
  const dataName = path.basename(data.fsPath);
  const title = (what: string) => `${titled}: ${what} in ${dataName}`;
  const has = (role: keyof DataKeys) => !npy && byKey.has(DEFAULT_KEYS[role]);
  if (!npy && (['x', 'y', 'testX', 'testY'] as const).every(has))
    return { options: {}, none: [], trainSamples: byKey.get(DEFAULT_KEYS.x)!.shape[0] };

  const options: { -readonly [K in keyof ChosenArrays['options']]: string } = {};
  const none: (keyof DataKeys)[] = [];
  // Training inputs: the data file itself (.npy), the default key, or one picked.
  let x: ArrayInfo | undefined = npy ? byKey.get(path.basename(data.fsPath)) : byKey.get(DEFAULT_KEYS.x);
  if (!x) {
    const candidates = arrays.filter((a) => a.shape.length >= 2 && !isInteger(a));
    x =
      (await pickArray(candidates.length ? candidates : arrays, title('the training inputs'), 'Training inputs: one sample per row')) ??
      undefined;
    if (!x) return undefined;
    options.x = x.key;
  }
  const count = x.shape[0];
  const sampleShape = x.shape.slice(1).join();
  const labelsFor = (n: number, not: readonly ArrayInfo[]) =>
    arrays.filter((a) => !not.includes(a) && isInteger(a) && a.shape.length === 1 && a.shape[0] === n);

  const pickRole = async (
    role: keyof DataKeys,
    candidates: ArrayInfo[],
    what: string,
    placeHolder: string,
    noneLabel: string,
  ): Promise<ArrayInfo | null | undefined> => {
    if (has(role)) return byKey.get(DEFAULT_KEYS[role]);
    if (candidates.length === 0) {
      none.push(role);
      return null;
    }
    const picked = await pickArray(candidates, title(what), placeHolder, noneLabel);
    if (picked === undefined) return undefined;
    if (picked === null) none.push(role);
    else options[role === 'y' ? 'y' : role === 'testX' ? 'test-x' : 'test-y'] = picked.key;
    return picked;
  };

  const y = await pickRole(
    'y',
    labelsFor(count, [x]),
    'the training labels',
    `Integer classes, ${formatCount(count)} of them`,
    'None — distil the model’s own outputs',
  );
  if (y === undefined) return undefined;
  const testX = await pickRole(
    'testX',
    arrays.filter((a) => a !== x && a !== y && !isInteger(a) && a.shape.slice(1).join() === sampleShape),
    'the test inputs',
    'Test inputs: measured after each epoch',
    'None — no test accuracy',
  );
  if (testX === undefined) return undefined;
  if (testX === null) none.push('testY');
  else {
    const testY = await pickRole(
      'testY',
      labelsFor(testX.shape[0], [x, testX, ...(y ? [y] : [])]),
      'the test labels',
      `Integer classes, ${formatCount(testX.shape[0])} of them`,
      'None — no test accuracy',
    );
    if (testY === undefined) return undefined;
  }
  return { options, none, trainSamples: count };
}

/** One array picked (null: the "none" item), undefined when the pick is cancelled. */
async function pickArray(
  arrays: readonly ArrayInfo[],
  title: string,
  placeHolder: string,
  noneLabel?: string,
): Promise<ArrayInfo | null | undefined> {
  const items: (vscode.QuickPickItem & { array: ArrayInfo | null })[] = arrays.map((a) => ({
    label: shown(a.key),
    description: describeArray(a),
    array: a,
  }));
  if (noneLabel) items.push({ label: noneLabel, array: null });
  const picked = await vscode.window.showQuickPick(items, { title, placeHolder, matchOnDescription: true });
  return picked ? picked.array : undefined;
}

async function npzArrays(data: vscode.Uri): Promise<ArrayInfo[]> {
  const checkpoint = await openCheckpoint(data.fsPath);
  try {
    return checkpoint.tensors.map((t: TensorEntry) => ({ key: t.name, shape: t.shape, dtype: t.dtype }));
  } finally {
    await checkpoint.release?.();
  }
}

/** The .npy files beside the data (the data first), their shapes read from their headers. */
async function npyFilesBeside(data: vscode.Uri): Promise<ArrayInfo[]> {
  const folder = path.dirname(data.fsPath);
  const names = (await fs.readdir(folder)).filter((n) => /\.npy$/i.test(n)).sort();
  const dataName = path.basename(data.fsPath);
  const ordered = [dataName, ...names.filter((n) => n !== dataName)].slice(0, 200);
  const out: ArrayInfo[] = [];
  for (const name of ordered) {
    const checkpoint = await openCheckpoint(path.join(folder, name)).catch((e: unknown) => {
      if (name === dataName) throw e;
      return undefined; // another .npy beside it that cannot be read is simply not offered
    });
    if (!checkpoint) continue;
    try {
      const t = checkpoint.tensors[0];
      if (t) out.push({ key: name, shape: t.shape, dtype: t.dtype });
    } finally {
      await checkpoint.release?.();
    }
  }
  return out;
}
