// The benchmark: our forward and training step against the PyTorch peer,
// the data loader against the training step, and scaling tables.
export {
  compare,
  machineInfo,
  peerArgsFor,
  writeBenchFiles,
  type CompareOptions,
  type CompareResult,
  type MachineInfo,
  type PhaseRatio,
  type PhaseResult,
  type PeerResult,
} from './compare.js';
export { jpegDataset, measureLoaders, memoryDataset, precropFor, type LoaderOptions, type LoaderResult } from './loader.js';
export {
  compareTable,
  describeRun,
  formatReport,
  GOALS,
  loaderTable,
  profileTable,
  reportJson,
  scalingTable,
  type BenchReport,
  type TableFormat,
} from './report.js';
export { measureScaling, type ScalingAxis, type ScalingOptions, type ScalingRow } from './scaling.js';
export {
  onnxRuntimeSpins,
  openmpWaitPolicy,
  peerEnvironment,
  peerPython,
  PROFILE_REPS,
  peerScript,
  runOurs,
  runOnnxRuntime,
  runPeer,
  runSide,
  sideLabel,
  sidePhases,
  type BenchSetup,
  type Peer,
  type PeerEnv,
  type Side,
  type SideRequest,
  type SideRun,
} from './side.js';
export { fastestOps, imagesPerSecond, median, peakRssMb, variation } from './stats.js';
export {
  BENCH_SGD,
  benchLabels,
  benchTrainStep,
  convPeakGflops,
  flopsPerImage,
  matmulPeakGflops,
  PHASES,
  timeForward,
  runBenchStep,
  timeTrainSteps,
  type Phase,
  type Repetitions,
  type Timings,
} from './workload.js';
export {
  formatServe,
  measureServe,
  SERVE_GOALS,
  spawnServe,
  type ServeBenchOptions,
  type ServeBenchResult,
  type ServeLoadRow,
  type ServeProcess,
} from './serve.js';
