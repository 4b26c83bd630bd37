// Training: recipes, the loop, fine-tuning, pre-training, checkpoints.
export * from './recipes.js';
export * from './schedule.js';
export * from './optim.js';
export * from './mixup.js';
export * from './batch.js';
export * from './evaluate.js';
export * from './checkpoint.js';
export * from './fingerprint.js';
export * from './step.js';
export * from './collective.js';
export * from './trainer.js';
export * from './finetune.js';
export * from './pretrain.js';
export * from './tensorboard-log.js';
