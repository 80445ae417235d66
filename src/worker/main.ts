// Entry point of the engine worker thread (bundled to dist/worker.js). The extension host starts
// exactly one of these; it owns the engine, the kernels' helper threads and the model. All the
// logic is in service.ts; this file only connects it to the parent port.
import { parentPort } from "node:worker_threads";
import { EngineService } from "./service.ts";
import type { Event, Request } from "./protocol.ts";

if (!parentPort) throw new Error("src/worker/main.ts must run as a worker thread");
const port = parentPort;

const service = new EngineService(
  (event: Event) => port.postMessage(event),
  (how) => {
    // Test hook: die like a real crash would, without any goodbye message.
    if (how === "exit") process.exit(70);
    setImmediate(() => {
      throw new Error("engine worker crash requested by a test");
    });
  },
);

port.on("message", (msg: Request) => service.handle(msg));
