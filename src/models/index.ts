// The models layer: BiT ResNet-v2, classic ResNets, the registry, weight IO, official weights by name.
export * from './classifier.js';
export * from './resnetv2.js';
export * from './resnet.js';
export * from './registry.js';
export * from './weights.js';
export * from './onnx.js';
export * from './hub.js';
