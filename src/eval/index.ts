// Evaluation: few-shot (linear and fine-tuning), VTAB-1k, reports.
export * from './fewshot.js';
export * from './fewshot-finetune.js';
export * from './fewshot-report.js';
export * from './runs.js';
export * from './vtab.js';
export * from './inference.js';
export * from './embed.js';
