/** The libraries, in the order they run. */
import type { AdapterFactory } from '../harness/adapter.js';
import { convoy } from './convoy.js';
import { bullmq } from './bullmq.js';
import { bee } from './bee.js';
import { raw, rawBatched } from './raw.js';

export const LIBS: readonly AdapterFactory[] = [convoy, bullmq, bee, raw, rawBatched];
