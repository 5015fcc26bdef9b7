/**
 * The adapter to the core's kept results (issue #12, "results"), which is not
 * on main yet. Until it is, the tasks layer keeps outcomes itself (notifier.ts)
 * and rejects a failed call with this stand-in, shaped as the core's
 * RemoteJobError (`jobId`, `remote`). Once the core has it: import it from
 * '../index.js' instead, and let the fallback read `queue.waitForResult`.
 */
import { ConvoyError } from '../index.js';
import type { RemoteError } from './notifier.js';

export class RemoteJobError extends ConvoyError {
  override name = 'RemoteJobError';
  constructor(
    readonly jobId: string,
    readonly remote: RemoteError,
  ) {
    super(remote.message);
  }
}
