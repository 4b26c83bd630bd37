// The nn layer: parameters (VarStore/Path), modules, convolutions, norms, MAC counting, ONNX export helpers.
export * from './constants.js';
export * from './varstore.js';
export * from './module.js';
export * from './conv.js';
export * from './norm.js';
export * from './flops.js';
export * from './onnx.js';
