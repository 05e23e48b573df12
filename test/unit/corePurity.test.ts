import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { REPO } from '../helpers/fixtures';

describe('architecture', () => {
  it('nothing in src/core or src/kernels imports vscode or touches the DOM', () => {
    for (const folder of ['src/core', 'src/kernels']) {
      const dir = path.join(REPO, folder);
      for (const file of readdirSync(dir, { recursive: true }) as string[]) {
        if (!file.endsWith('.ts')) continue;
        const text = readFileSync(path.join(dir, file), 'utf8');
        assert.doesNotMatch(text, /from ['"]vscode['"]|require\(['"]vscode['"]\)/, `${folder}/${file} imports vscode`);
        assert.doesNotMatch(text, /(?<![.\w])(document|window)\./, `${folder}/${file} uses the DOM`);
      }
    }
  });

  it('readers never read a whole checkpoint with readFile', () => {
    const dir = path.join(REPO, 'src');
    for (const file of readdirSync(dir, { recursive: true }) as string[]) {
      if (file.endsWith('.ts')) assert.doesNotMatch(readFileSync(path.join(dir, file), 'utf8'), /readFile(Sync)?\(/, file);
    }
  });
});
