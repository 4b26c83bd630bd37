// The tensor layer: the only code that touches native handles.
export * from './tensor.js';
export * from './ops.js';
export * from './functional.js';
export * from './linalg.js';
export * from './runtime.js';
export * from './profile.js';
export { ArgumentError, assertRank } from './validate.js';
export * from './distributed.js';
