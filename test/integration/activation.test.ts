import { strict as assert } from 'node:assert';
import * as vscode from 'vscode';
import { activeExtension, EXTENSION_ID, packageJson } from './helpers';

describe('extension host: activation and contributions', () => {
  it('activates', async () => {
    const ext = await activeExtension();
    assert.equal(ext.isActive, true);
    assert.equal(ext.id.toLowerCase(), EXTENSION_ID.toLowerCase());
  });

  it('registers every command that package.json contributes', async () => {
    await activeExtension();
    const contributed = (packageJson().contributes?.commands ?? []).map((c) => c.command);
    assert.ok(contributed.length > 0, 'package.json contributes no commands');
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = contributed.filter((id) => !registered.has(id));
    assert.deepEqual(missing, [], `contributed but not registered: ${missing.join(', ')}`);
  });

  // Contributed views: contributions.test.ts shows each one and checks what it renders.
});
