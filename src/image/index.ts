// The image subsystem's public API.
export { ImageStore, type ImageListEntry, type ImportOptions } from './store.ts';
export { buildRecipe, type BuildRecipeOptions } from './recipes.ts';
export { parseImageRef, DEFAULT_TAG, type ImageRef } from './ref.ts';
export type { ImageConfig, ResolvedImage } from './types.ts';
