// The editor's "Prune to 2:4…" export without the editor: `node out/test/helpers/editorExport.js
// MODEL OUT` makes the kernels as the extension host does and calls `pruneFile` as the command
// does once the save dialog has answered (every layer picked, `force` since the dialog asked).
// The kill harness runs it as its own process group, the kernel worker included.
import { createKernels } from '../../src/kernels/createKernels';
import { pruneMethod, selectNm } from '../../src/core/prune/pruneSelection';
import { REPO } from './fixtures';

async function exportPruned(file: string, output: string): Promise<void> {
  const kernels = createKernels({ backend: 'auto', root: REPO });
  try {
    const nm = { n: 2, m: 4 };
    const analysis = await kernels.analyseFile({ file, roles: [], nm, zeroThreshold: 0 });
    const selection = selectNm(analysis, nm, false, { include: [], exclude: [] });
    await kernels.pruneFile({
      file,
      roles: [],
      output,
      force: true,
      layers: selection.layers,
      skipped: selection.skipped,
      method: pruneMethod(nm),
      toolVersion: '0.0.0-test',
    });
  } finally {
    await kernels.dispose();
  }
}

if (require.main === module) {
  exportPruned(process.argv[2], process.argv[3]).then(
    () => process.exit(0),
    (e: Error) => {
      process.stderr.write(`error: ${e.message}\n`);
      process.exit(1);
    },
  );
}
