// Model folder resolution: local folders, the Hugging Face hub cache, and hub downloads.
export { hubCacheDir, isRepoId, hasRepoIdForm, isCommitHash, repoFolderName, repoCacheDir, cachedSnapshot, type CacheLookup, type Env, type RepoType } from './cache.js';
export { downloadSnapshot, hubEndpoint, hubToken, matchesPattern, DEFAULT_ALLOW_PATTERNS, HubError, type DownloadOptions } from './download.js';
export { resolveModelPath, offlineVariable, type ResolveOptions } from './resolve.js';
