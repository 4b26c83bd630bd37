// The library API: every layer, from tensors to evaluators.
//
//   import { tensor, models, data, train, evaluation } from 'bit-transfer';
//   const model = models.getModel('BiT-M-R50x1').build({ headSize: 10 });
//   await models.loadWeights(model, 'BiT-M-R50x1.npz', { head: 'new' });
export * as tensor from './tensor/index.js';
export * as nn from './nn/index.js';
export * as models from './models/index.js';
export * as data from './data/index.js';
export * as io from './io/npz.js';
export * as report from './report/index.js';
export * as train from './train/index.js';
export * as evaluation from './eval/index.js';
