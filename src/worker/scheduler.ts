// The worker's request scheduler: one engine, generations interleaved at token granularity.
// - Completion requests go before chat requests (latency: a suggestion is useless once late).
// - A new completion cancels every pending or running completion (the user typed on).
// - A running chat generation is driven one token at a time; between two of its tokens any
//   runnable completion gets its own steps first. Each request names its own KV slot, so the two
//   caches never mix, and only one engine step runs at a time (steps are never overlapped: the
//   model's scratch buffers are shared).
// - Cancellation is checked by the engine between prompt batches and tokens; a request cancelled
//   before its first step ends at once without touching the engine.
import type { GenerateChunk, GenerateStats } from "../engine/session.ts";
import type { EngineGenerateRequest } from "../engine/engine.ts";
import type { ChatPrompt, GenerateParams, Slot } from "./protocol.ts";

/** What the scheduler needs of an engine (the real one, or a fake in unit tests). */
export interface GeneratingEngine {
  generate(req: Omit<EngineGenerateRequest, "prompt"> & { prompt: EngineGenerateRequest["prompt"] | ChatPrompt }): AsyncGenerator<GenerateChunk, GenerateStats>;
}

/** Where a job's output goes. */
export interface JobSink {
  delta(text: string, tokens: number): void;
  done(stats: GenerateStats): void;
  error(err: unknown): void;
}

const PRIORITY: Record<Slot, number> = { completion: 0, chat: 1 };

interface Job {
  id: number;
  params: GenerateParams;
  sink: JobSink;
  controller: AbortController;
  seq: number;
  gen?: AsyncGenerator<GenerateChunk, GenerateStats>;
}

export function cancelledStats(promptTokens = 0): GenerateStats {
  return { promptTokens, reusedTokens: 0, restoredTokens: 0, evaluatedTokens: 0, generatedTokens: 0, promptMs: 0, generateMs: 0, stopReason: "cancelled" };
}

export class Scheduler {
  private readonly jobs: Job[] = [];
  private seq = 0;
  private running = false;
  /** Resolves when the run loop is idle (for dispose and tests). */
  private idle: Promise<void> = Promise.resolve();

  constructor(private readonly engine: GeneratingEngine) {}

  /** Queues a generation; a completion cancels the completions before it. */
  submit(id: number, params: GenerateParams, sink: JobSink): void {
    if (params.slot === "completion") {
      for (const j of this.jobs) if (j.params.slot === "completion") j.controller.abort();
    }
    this.jobs.push({ id, params, sink, controller: new AbortController(), seq: this.seq++ });
    this.kick();
  }

  /** Cancels a job by id (unknown ids are ignored: the job may have just finished). */
  cancel(id: number): void {
    this.jobs.find((j) => j.id === id)?.controller.abort();
    this.kick();
  }

  /** Cancels everything and waits until no engine step is running (before unloading the engine). */
  async drain(): Promise<void> {
    for (const j of this.jobs) j.controller.abort();
    this.kick();
    await this.idle;
  }

  get size(): number {
    return this.jobs.length;
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    this.idle = this.loop();
  }

  /** The next job to step: completion before chat, then first come first served. */
  private pick(): Job | undefined {
    let best: Job | undefined;
    for (const j of this.jobs) {
      if (!best || PRIORITY[j.params.slot] < PRIORITY[best.params.slot] || (PRIORITY[j.params.slot] === PRIORITY[best.params.slot] && j.seq < best.seq)) best = j;
    }
    return best;
  }

  private async loop(): Promise<void> {
    // Start on the next turn of the event loop: requests and cancels already queued as messages
    // are seen first, so a completion replaced at once never reaches the engine.
    try {
      await new Promise((resolve) => setImmediate(resolve));
      for (let job = this.pick(); job; job = this.pick()) {
        await this.step(job);
      }
    } finally {
      // Cleared in the same turn as the last pick: a submit after it starts a new loop.
      this.running = false;
    }
  }

  /** Runs one engine step of `job` (its prompt, or one token) and delivers what it produced. */
  private async step(job: Job): Promise<void> {
    const signal = job.controller.signal;
    try {
      if (!job.gen) {
        if (signal.aborted) return this.finish(job, cancelledStats());
        job.gen = this.engine.generate({ ...job.params, signal });
      }
      const r = await job.gen.next();
      if (r.done) return this.finish(job, r.value);
      // After a cancel the engine may still flush a partial character: nobody wants it.
      // A chunk is one token, except the final flush (token -1).
      if (!signal.aborted) job.sink.delta(r.value.text, r.value.token >= 0 ? 1 : 0);
    } catch (err) {
      this.remove(job);
      job.sink.error(err);
    }
  }

  private finish(job: Job, stats: GenerateStats): void {
    this.remove(job);
    job.sink.done(job.controller.signal.aborted ? { ...stats, stopReason: "cancelled" } : stats);
  }

  private remove(job: Job): void {
    const i = this.jobs.indexOf(job);
    if (i >= 0) this.jobs.splice(i, 1);
  }
}
