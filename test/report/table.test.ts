// Tables: exact Markdown and plain text for small inputs, written out by hand.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { summarize } from '../../src/report/stats.js';
import { formatMeanStd, markdownTable, meanStd, textTable, type Table } from '../../src/report/table.js';

const FEW_SHOT: Table = {
  columns: ['Model', 'Shots', { header: 'Accuracy (%)', decimals: 1 }, 'Seeds'],
  rows: [
    ['BiT-S', 1, meanStd([25.1, 26.3, 24.8]), 3],
    ['BiT-M', 5, meanStd([52.25]), 1],
    ['BiT-L', 25, null, 0],
  ],
};

describe('markdownTable', () => {
  it('right-aligns numeric columns with fixed decimals and a ± spread', () => {
    assert.equal(
      markdownTable(FEW_SHOT),
      [
        '| Model | Shots | Accuracy (%) | Seeds |',
        '| :---- | ----: | -----------: | ----: |',
        '| BiT-S |     1 |   25.4 ± 0.8 |     3 |',
        '| BiT-M |     5 |         52.3 |     1 |',
        '| BiT-L |    25 |            — |     0 |',
        '',
      ].join('\n'),
    );
  });

  it('uses 2 decimals for non-integer numbers, honours explicit alignment and escapes pipes', () => {
    const table: Table = {
      columns: [{ header: 'Norm', align: 'center' }, 'Error', 'Δ'],
      rows: [
        ['GN|WS', 23.456, -0.001],
        ['BN', 24, 0.5],
      ],
    };
    assert.equal(
      markdownTable(table),
      ['|  Norm  | Error |    Δ |', '| :----: | ----: | ---: |', '| GN\\|WS | 23.46 | 0.00 |', '|   BN   | 24.00 | 0.50 |', ''].join('\n'),
    );
  });

  it('names the row whose length is wrong', () => {
    assert.throws(() => markdownTable({ columns: ['a', 'b'], rows: [['x', 1], ['y']] }), /table: row 1 has 1 cells, expected 2 \(one per column: a, b\)/);
  });
});

describe('textTable', () => {
  it('aligns columns two spaces apart under a dashed rule, without trailing spaces', () => {
    assert.equal(
      textTable(FEW_SHOT),
      [
        'Model  Shots  Accuracy (%)  Seeds',
        '-----  -----  ------------  -----',
        'BiT-S      1    25.4 ± 0.8      3',
        'BiT-M      5          52.3      1',
        'BiT-L     25             —      0',
        '',
      ].join('\n'),
    );
    assert.equal(
      textTable({
        columns: ['Dataset', 'Note'],
        rows: [
          ['CIFAR-10', 'ok'],
          ['Pets', 'x'],
        ],
      }),
      'Dataset   Note\n--------  ----\nCIFAR-10  ok\nPets      x\n',
    );
  });
});

describe('formatMeanStd', () => {
  it('prints mean ± sample std with fixed decimals', () => {
    assert.equal(formatMeanStd([76.1, 76.5]), '76.30 ± 0.28');
    assert.equal(formatMeanStd([1, 2, 3, 4], 3), '2.500 ± 1.291');
    assert.equal(formatMeanStd([97.25]), '97.25');
    assert.equal(formatMeanStd([-0.001, 0.001]), '0.00 ± 0.00');
    assert.throws(() => formatMeanStd([]), /meanStd values is empty/);
    assert.throws(() => formatMeanStd([1, Number.NaN]), /meanStd values\[1\] = NaN/);
  });

  it('summarize agrees with the definitions', () => {
    assert.deepEqual(summarize([2, 4, 4, 4, 5, 5, 7, 9]), { n: 8, mean: 5, std: Math.sqrt(32 / 7), min: 2, max: 9 });
    assert.deepEqual(summarize([3]), { n: 1, mean: 3, std: 0, min: 3, max: 3 });
  });
});
