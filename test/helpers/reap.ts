/**
 * `make test` runs this first: it kills the redis-servers (and removes the temp
 * folders) that test processes which are gone left behind, e.g. an ava worker
 * killed with SIGKILL before its watchdogs could act. Servers whose owner still
 * runs (another test run, another checkout) are left alone.
 */
import { reapLeftovers } from './redis-server.js';

// (importing redis-server.ts already reaps once and says what it did)
const again = reapLeftovers();
for (const line of again) console.log(`reap: ${line}`);
