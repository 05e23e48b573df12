import * as vscode from 'vscode';
import { TARGET_KINDS, type TargetKind } from '../core/analysis/target';
import { DEFAULT_NM, parseNmPattern, type NmPattern } from '../core/nmPattern';
import { parseRoleOverrides, type RoleOverrides } from '../core/roles/roleOverrides';
import type { KernelBackend } from '../kernels/createKernels';

/** The extension's settings (`contributes.configuration` in package.json), read typed. */
export interface Settings {
  readonly nm: NmPattern;
  /** The structure the editor, the tree and the Problems panel check first (`sparsityLens.target`). */
  readonly target: TargetKind;
  readonly zeroThreshold: number;
  readonly maxHeatmapCells: number;
  readonly kernelBackend: KernelBackend;
  /** Role and fan-in axis per tensor name pattern (`sparsityLens.layerRoles`). */
  readonly layerRoles: RoleOverrides;
  /** Why `layerRoles` could not be used, when the setting is invalid (then it is ignored). */
  readonly layerRolesError?: string;
}

export const SETTINGS_SECTION = 'sparsityLens';

export function readSettings(): Settings {
  const c = vscode.workspace.getConfiguration(SETTINGS_SECTION);
  let nm = DEFAULT_NM;
  try {
    nm = parseNmPattern(c.get<string>('nmPattern', '2:4'));
  } catch {
    // An invalid pattern in settings falls back to 2:4; the settings UI flags it already.
  }
  const backend = c.get<string>('kernelBackend', 'auto');
  let layerRoles: RoleOverrides = [];
  let layerRolesError: string | undefined;
  try {
    layerRoles = parseRoleOverrides(c.get<unknown>('layerRoles', {}));
  } catch (e) {
    layerRolesError = (e as Error).message;
  }
  const target = c.get<string>('target', 'nm');
  return {
    nm,
    target: TARGET_KINDS.includes(target as TargetKind) ? (target as TargetKind) : 'nm',
    zeroThreshold: Math.max(0, c.get<number>('zeroThreshold', 0)),
    maxHeatmapCells: Math.max(1024, Math.floor(c.get<number>('maxHeatmapCells', 65536))),
    kernelBackend: backend === 'native' || backend === 'reference' ? backend : 'auto',
    layerRoles,
    ...(layerRolesError ? { layerRolesError } : {}),
  };
}
