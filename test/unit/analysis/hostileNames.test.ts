import { strict as assert } from 'node:assert';
import { formatReportMarkdown, formatReportTable } from '../../../src/core/analysis/reportText';
import { fixture, reportOf } from '../../helpers/fixtures';

/** Names a hostile checkpoint may hold: HTML, a Markdown link, an ANSI escape, a right-to-left override, a line break. */
const HOSTILE = [
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '[click](javascript:alert(1))',
  '\u001b[2J\u001b[31mred',
  'gpj.\u202eexe',
  'two\nlines|cell',
];

describe('reports show hostile tensor names as inert text', () => {
  it('the text table and the Markdown report escape what terminals and Markdown would read', async () => {
    const real = await reportOf(fixture('digits_mlp_24.safetensors'));
    const renamed = new Map(real.layers.map((l, i) => [l.name, HOSTILE[i % HOSTILE.length]]));
    const report = {
      ...real,
      file: 'evil\n<b>name</b>.safetensors',
      layers: real.layers.map((l) => ({ ...l, name: renamed.get(l.name)! })),
      problems: real.problems.map((p) => ({ ...p, layer: renamed.get(p.layer)! })),
      storage: { ...real.storage, layers: real.storage.layers.map((st) => ({ ...st, name: renamed.get(st.name)! })) },
      skipped: [
        { name: '\u001b]0;title\u0007', reason: 'unsupported dtype "\u202eevil"' },
        { name: '&lt;b&gt;entity&#33; $x^2$ ~~struck~~ ![i](x.png)', reason: 'test' },
      ],
    };
    const table = formatReportTable(report);
    // eslint-disable-next-line no-control-regex -- looks for raw control characters
    assert.doesNotMatch(table, /[\u0000-\u0009\u000b-\u001f\u202e]/, 'no control character but the line ends');
    assert.match(table, /\\x1b\[2J\\x1b\[31mred/);
    assert.match(table, /gpj\.\\u202eexe/);
    assert.match(table, /not analysed: \\x1b\]0;title\\x07 \(unsupported dtype "\\u202eevil"\)/);
    const markdown = formatReportMarkdown(report);
    assert.doesNotMatch(markdown, /(?<!\\)<(script|img|b)\b/, 'no raw HTML tag');
    assert.doesNotMatch(markdown, /(?<!\\)\]\(javascript:/, 'no live link');
    assert.match(markdown, /\\<script\\>alert\(1\)\\<\/script\\>/);
    assert.match(markdown, /\\\[click\\\]\(javascript:alert\(1\)\)/);
    // Entities, math, strikethrough and images are escaped too: the name shows as typed.
    assert.match(markdown, /\\&lt;b\\&gt;entity\\&\\#33; \\\$x\^2\\\$ \\~\\~struck\\~\\~ \\!\\\[i\\\]\(x\.png\)/);
    assert.doesNotMatch(markdown, /(?<!\\)[&$]/, 'no unescaped & or $');
    const [tensors, problems, storage] = markdown.split(/^## /m).map((part) => part.split('\n').filter((l) => l.startsWith('| ')));
    assert.equal(tensors.length, real.layers.length + 2, 'header, rule and one row per tensor: no name breaks a row');
    assert.equal(problems.length, real.problems.length + 2, 'one row per problem');
    assert.equal(storage.length, 3 + 2, 'one row per sparse weight');
    const cells = (rows: string[], n: number) => rows.every((r) => r.split(/(?<!\\)\|/).length === n + 2);
    assert.ok(cells(tensors, 9) && cells(problems, 4) && cells(storage, 7), 'no name adds a cell');
  });
});
