import createDebug from 'debug';

/** Debug logging, shown with DEBUG=convoy:* */
export const log = createDebug('convoy:queue');
