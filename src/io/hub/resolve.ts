// Turns what the user typed for a model (a folder or a hub repo id) into a local folder holding
// config.json, the way transformers' from_pretrained does: local folder first, then the hub cache,
// then a download unless offline.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cachedSnapshot, hubCacheDir, isDirectory, isFile, isRepoId, repoFolderName, type Env } from './cache.js';
import { downloadSnapshot, HubError, type DownloadOptions } from './download.js';

export interface ResolveOptions extends Pick<DownloadOptions, 'endpoint' | 'token' | 'allowPatterns' | 'log'> {
  revision?: string;
  env?: Env;
  /** Never touch the network. Defaults to HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE. */
  offline?: boolean;
}

const TRUTHY = new Set(['1', 'on', 'yes', 'true']);

/** The variable that switches downloads off, or null; huggingface_hub accepts 1/ON/YES/TRUE. */
export function offlineVariable(env: Env = process.env): string | null {
  for (const name of ['HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE']) {
    if (TRUTHY.has((env[name] ?? '').trim().toLowerCase())) return name;
  }
  return null;
}

/** A local folder holding config.json for `spec` (a model folder or an ORG/NAME hub repo id). */
export async function resolveModelPath(spec: string, options: ResolveOptions = {}): Promise<string> {
  const { revision = 'main', env = process.env } = options;
  if (isDirectory(spec)) {
    if (!isFile(join(spec, 'config.json'))) throw new Error(`model folder ${resolve(spec)} has no config.json: expected a Hugging Face model folder (config.json, *.safetensors, tokenizer.json)`);
    return resolve(spec);
  }
  if (existsSync(spec)) throw new Error(`model "${spec}" is a file; pass the folder that holds config.json and the *.safetensors files, or a hub repo id like Qwen/Qwen3-0.6B`);
  if (!isRepoId(spec)) {
    throw new Error(`model "${spec}" is neither an existing folder nor a Hugging Face repo id: pass a local model folder (holding config.json) or ORG/NAME such as Qwen/Qwen3-0.6B`);
  }

  const { snapshot, lookedAt } = cachedSnapshot(spec, revision, env);
  if (snapshot) {
    const config = join(snapshot, 'config.json');
    if (isFile(config)) return snapshot;
    lookedAt.push(config);
  }

  // An explicit option wins over the environment, so a caller can force a download with offline: false.
  const variable = options.offline === undefined ? offlineVariable(env) : null;
  const offlineBecause = options.offline === true ? 'offline mode was requested' : variable ? `${variable}=${env[variable]}` : null;
  if (offlineBecause) throw new Error(notCachedMessage(spec, revision, env, lookedAt, offlineBecause));

  let downloaded: string;
  try {
    downloaded = await downloadSnapshot(spec, { ...options, revision, env });
  } catch (error) {
    // `models/student` reads as a repo id too; when the hub fails, say the local reading was tried.
    if (!(error instanceof HubError)) throw error;
    throw new HubError(`${error.message}\n(If "${spec}" was meant as a local folder: there is no such folder under ${process.cwd()}.)`, error.url, error.status);
  }
  if (!isFile(join(downloaded, 'config.json'))) throw new Error(`${spec}@${revision} was downloaded to ${downloaded} but has no config.json: it is not a transformers model repo`);
  return downloaded;
}

function notCachedMessage(repoId: string, revision: string, env: Env, lookedAt: string[], offlineBecause: string): string {
  const cache = hubCacheDir(env);
  const revisionFlag = revision === 'main' ? '' : ` --revision ${revision}`;
  return [
    `${repoId}${revision === 'main' ? '' : `@${revision}`} is not in the Hugging Face cache, and downloads are off (${offlineBecause}). Looked at:`,
    ...lookedAt.map((path) => `  ${path}${existsSync(path) ? '' : ' (missing)'}`),
    `The cache folder is ${cache} (set by HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub). To get the model:`,
    `  - on a connected machine run \`huggingface-cli download ${repoId}${revisionFlag}\` and copy its ~/.cache/huggingface/hub/${repoFolderName(repoId)} folder into ${cache}, or`,
    `  - pass a local folder holding config.json, the *.safetensors files and tokenizer.json instead of ${repoId}.`,
  ].join('\n');
}
