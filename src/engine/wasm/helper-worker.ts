// Source of a kernel helper worker, run with `new Worker(source, { eval: true })` so it needs no
// file of its own in the bundle. It instantiates the kernels on the shared memory, moves its C
// stack to its own region (every instance starts with the same __stack_pointer), says it is
// ready, and runs the pool's worker loop until pool_shutdown.
export const HELPER_WORKER_SOURCE = `
const { workerData, parentPort } = require("node:worker_threads");
const { module, memory, stackTop, ith, generation } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
instance.exports.__stack_pointer.value = stackTop;
parentPort.postMessage("ready");
instance.exports.pool_worker_loop(ith, generation);
parentPort.postMessage("stopped");
`;
