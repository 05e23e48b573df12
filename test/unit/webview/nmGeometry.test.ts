import { strict as assert } from 'node:assert';
import { groupBlock, groupColumns, groupOfColumn, groupStarts, partialRanges, violatingGroups } from '../../../webview/src/nmGeometry';

describe('webview: N:M group geometry', () => {
  // A linear weight with 10 inputs and 4-wide groups: channels 0–3, 4–7, then 8–9 (partial).
  const linear = { inDim: 10, K: 1 };
  // A 3×3 conv with 6 input channels, drawn kernel position first: column c is channel c mod 6 at position ⌊c / 6⌋.
  const conv = { inDim: 6, K: 9 };

  it('puts a column of a linear weight in group ⌊col / M⌋', () => {
    assert.deepEqual(groupOfColumn(linear, 4, 0), { group: 0, position: 0, channel: 0, partial: false });
    assert.deepEqual(groupOfColumn(linear, 4, 3), { group: 0, position: 0, channel: 3, partial: false });
    assert.deepEqual(groupOfColumn(linear, 4, 4), { group: 1, position: 0, channel: 4, partial: false });
    assert.deepEqual(groupOfColumn(linear, 4, 7), { group: 1, position: 0, channel: 7, partial: false });
  });

  it('marks the trailing channels that do not fill a group as partial', () => {
    assert.deepEqual(groupOfColumn(linear, 4, 8), { group: 2, position: 0, channel: 8, partial: true });
    assert.deepEqual(groupOfColumn(linear, 4, 9), { group: 2, position: 0, channel: 9, partial: true });
    // Exactly divisible: the last group is full.
    assert.equal(groupOfColumn({ inDim: 8, K: 1 }, 4, 7).partial, false);
    // Fewer channels than M: every column is in the one partial group.
    assert.deepEqual(groupOfColumn({ inDim: 3, K: 1 }, 4, 2), { group: 0, position: 0, channel: 2, partial: true });
  });

  it('groups a conv weight by input channel at each kernel position', () => {
    assert.deepEqual(groupOfColumn(conv, 4, 0), { group: 0, position: 0, channel: 0, partial: false });
    // 25 = 4·6 + 1: channel 1, position 4.
    assert.deepEqual(groupOfColumn(conv, 4, 25), { group: 0, position: 4, channel: 1, partial: false });
    // 51 = 8·6 + 3: the last channel of the first group at the last position.
    assert.deepEqual(groupOfColumn(conv, 4, 51), { group: 0, position: 8, channel: 3, partial: false });
    // 28 = 4·6 + 4: channels 4 and 5 are a partial group.
    assert.deepEqual(groupOfColumn(conv, 4, 28), { group: 1, position: 4, channel: 4, partial: true });
    assert.deepEqual(groupOfColumn(conv, 4, 53), { group: 1, position: 8, channel: 5, partial: true });
  });

  it('lists the columns of a group: M adjacent columns, for a conv too', () => {
    assert.deepEqual(groupColumns(linear, 4, 0), [0, 1, 2, 3]);
    assert.deepEqual(groupColumns(linear, 4, 6), [4, 5, 6, 7]);
    assert.deepEqual(groupColumns(linear, 4, 9), [8, 9]);
    assert.deepEqual(groupColumns({ inDim: 3, K: 1 }, 4, 1), [0, 1, 2]);
    assert.deepEqual(groupColumns(conv, 4, 25), [24, 25, 26, 27]);
    assert.deepEqual(groupColumns(conv, 4, 51), [48, 49, 50, 51]);
    assert.deepEqual(groupColumns(conv, 4, 28), [28, 29]);
    assert.deepEqual(groupColumns(conv, 4, 53), [52, 53]);
    // 2:8 on the conv: one partial group of all 6 channels at each position.
    assert.deepEqual(groupColumns(conv, 8, 20), [18, 19, 20, 21, 22, 23]);
  });

  it('group starts and partial ranges per kernel position; windows align to M when groups do', () => {
    assert.deepEqual(groupStarts(linear, 4, 0, 10), [0, 4]);
    assert.deepEqual(groupStarts(conv, 4, 0, 20), [0, 6, 12, 18]);
    assert.deepEqual(groupStarts({ inDim: 8, K: 2 }, 4, 3, 16), [4, 8, 12]);
    assert.deepEqual(partialRanges(linear, 4, 0, 10), [[8, 10]]);
    assert.deepEqual(partialRanges(conv, 4, 0, 20), [
      [4, 6],
      [10, 12],
      [16, 18],
    ]);
    assert.deepEqual(partialRanges({ inDim: 8, K: 9 }, 4, 0, 72), []);
    assert.deepEqual(partialRanges({ inDim: 3, K: 1 }, 4, 0, 3), [[0, 3]]);
    assert.equal(groupBlock(linear, 4), 4);
    assert.equal(groupBlock({ inDim: 8, K: 9 }, 4), 4);
    // 6 channels per position: groups start at 0, 6, 12 … not at multiples of 4.
    assert.equal(groupBlock(conv, 4), 1);
  });

  describe('violating groups', () => {
    const exact = (v: number): boolean => Math.abs(v) <= 0;
    const twoOfFour = { n: 2, m: 4 };

    it('finds full groups with more than N non-zeros, never the partial one', () => {
      const values = [
        1,
        1,
        1,
        0,
        0,
        0,
        0,
        0,
        1,
        1, // group 0 has 3, group 1 none, partial (8, 9) not checked
        1,
        0,
        1,
        0,
        1,
        1,
        1,
        1,
        1,
        1, // group 0 has 2, group 1 has 4
      ];
      const all = { rowStart: 0, rowEnd: 2, colStart: 0, colEnd: 10 };
      assert.deepEqual(violatingGroups(linear, twoOfFour, values, all, all, exact), [
        { row: 0, first: 0 },
        { row: 1, first: 4 },
      ]);
      // Only the visible rows count.
      assert.deepEqual(violatingGroups(linear, twoOfFour, values, all, { ...all, rowStart: 1 }, exact), [{ row: 1, first: 4 }]);
      // 3:4 allows three.
      assert.deepEqual(violatingGroups(linear, { n: 3, m: 4 }, values, all, all, exact), [{ row: 1, first: 4 }]);
    });

    it('skips groups that are not wholly inside the values window', () => {
      // Columns 2–9 of the rows above: group 0 (columns 0–3) is cut off.
      const values = [1, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1];
      const window = { rowStart: 0, rowEnd: 2, colStart: 2, colEnd: 10 };
      assert.deepEqual(violatingGroups(linear, twoOfFour, values, window, { rowStart: 0, rowEnd: 2, colStart: 0, colEnd: 10 }, exact), [
        { row: 1, first: 4 },
      ]);
    });

    it('checks each kernel position of a conv group on its own', () => {
      // K = 2, 4 channels: position 0 is columns 0–3; position 1 is 4–7.
      const values = [
        1,
        1,
        1,
        0,
        0,
        1,
        0,
        1, // position 0: 3 non-zeros; position 1: 2
        0,
        0,
        0,
        0,
        1,
        1,
        1,
        0, // position 0: none; position 1: 3
      ];
      const all = { rowStart: 0, rowEnd: 2, colStart: 0, colEnd: 8 };
      assert.deepEqual(violatingGroups({ inDim: 4, K: 2 }, twoOfFour, values, all, all, exact), [
        { row: 0, first: 0 },
        { row: 1, first: 4 },
      ]);
    });

    it('counts near-zero weights as zero with a threshold', () => {
      const values = [0.05, 0.5, -0.5, 0];
      const all = { rowStart: 0, rowEnd: 1, colStart: 0, colEnd: 4 };
      const axis = { inDim: 4, K: 1 };
      assert.deepEqual(violatingGroups(axis, twoOfFour, values, all, all, exact), [{ row: 0, first: 0 }]);
      assert.deepEqual(
        violatingGroups(axis, twoOfFour, values, all, all, (v) => Math.abs(v) <= 0.1),
        [],
      );
    });
  });
});
