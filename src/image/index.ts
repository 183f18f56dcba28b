// The image subsystem's public API.
export { ImageStore, ImageInUseError, type ImageListEntry, type ImportOptions, type ImageInspect, type GcOptions, type GcReport } from './store.ts';
export { pullImage, type PullOptions, type PullResult } from './pull.ts';
export { buildRecipe, type BuildRecipeOptions } from './recipes.ts';
export { parseImageRef, DEFAULT_TAG, type ImageRef } from './ref.ts';
export { resolveJobDefaults, type ResolvedJob } from './job-defaults.ts';
export { progressReporter, type Progress } from './progress.ts';
export type { ImageConfig, ResolvedImage } from './types.ts';
