// The data layer: datasets, BiT preprocessing and the worker-thread loader.
// Outputs plain typed arrays (uint8 NHWC images, int32 or multi-hot labels);
// the training layer turns them into tensors. See README.md in this folder.
export { DataError } from './errors.js';
export { Dataset, type DatasetInit, type ImageSize, type LabelSets, type PixelSource, type SkippedImage } from './dataset.js';
export {
  IMAGE_EXTENSIONS,
  PixelLimitError,
  RESIZE_KERNEL,
  configureSharp,
  decodeImage,
  type DecodeOptions,
  type MemoryPixels,
  type RawImage,
} from './decode.js';
export { IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, parseIdx, readIdxFile, readIdxPair, type IdxArray, type IdxImagesAndLabels } from './idx.js';
export {
  DIGITS_SPLIT_SEED,
  DIGITS_TEST_SIZE,
  DIGIT_CLASS_NAMES,
  FASHION_MNIST_CLASS_NAMES,
  findDigitsFile,
  openDigits,
  openFashionMnist,
  openIdxFolder,
  openMnist,
  type FixedSplit,
} from './builtin.js';
export { listImages, openImageFiles, openImageFolder, type FolderSplit, type OpenFolderOptions } from './folder.js';
export { openMultiLabel, readClassNames, type OpenMultiLabelOptions } from './multilabel.js';
export {
  IMAGENET21K_ABSENT,
  IMAGENET21K_EXTRA,
  darknetListFiles,
  classNamesFor,
  headClassNames,
  ilsvrc2012ClassNames,
  ilsvrc2012NamesFile,
  imagenet21kClasses,
  type HeadClassNames,
} from './imagenet.js';
export { formatDataSpec, openDataset, openForTraining, parseDataSpec, type DatasetSpec, type SourceSpec, type Split } from './spec.js';
export { fractionSubset, holdOut, kShotIndices, kShotSubset } from './subsets.js';
export { checkImageHeaders, describeSkipped, preflightData, skippedEntries, type SkippedEntry } from './preflight.js';
export {
  MAX_IMAGE_SIDE,
  PIXEL_OFFSET,
  PIXEL_SCALE,
  CROP_STYLES,
  INCEPTION_CROP,
  evalPreprocess,
  inceptionWindow,
  preprocessSample,
  sampleAugmentation,
  trainPreprocess,
  type Augmentation,
  type CropStyle,
  type PreprocessConfig,
} from './preprocess.js';
export {
  DataLoader,
  defaultWorkers,
  evalLoader,
  measureLoader,
  trainLoader,
  type Batch,
  type BatchPlan,
  type CommonLoaderOptions,
  type EvalLoaderOptions,
  type LoaderThroughput,
  type TrainLoaderOptions,
} from './loader.js';
export { RandomPurpose, permutation, randomWords } from './rng.js';
export { ONNX_IMAGE_INPUT, onnxImagePreprocessing } from './onnx-preprocess.js';
export { exifOrientation, orient, preprocess as browserPreprocess, resizeLinear, scaleToModelInput, type Pixels } from './browser-preprocess.js';
export { SAMPLE_IMAGES, dataCacheDir, sampleImage, type SampleImage } from './paths.js';
