// The worker's request scheduler: one queue over the engines of both roles (one model per role,
// or one model serving both), generations interleaved at token granularity. The CPU is shared,
// so only one engine step runs at a time, whichever engine it belongs to.
// - Completion requests go before chat requests (latency: a suggestion is useless once late).
// - A new completion cancels every pending or running completion (the user typed on).
// - A running chat generation is driven one token at a time; between two of its tokens any
//   runnable completion gets its own steps first. A completion does not wait for a chat step
//   either: the chat's forward pass polls, between layers, whether a completion is queued or a
//   user request is on its way, and pauses (its prompt's finished batches stay in the slot; an
//   interrupted token is evaluated again when it resumes). With two models, a 3B chat token or a
//   long chat prompt would otherwise hold a keystroke's suggestion for its whole length. Each request names its own KV slot, so the two
//   caches never mix, and only one engine step runs at a time (steps are never overlapped: the
//   model's scratch buffers are shared).
// - Each job has one CancelFlag (the client's, or its own): the scheduler polls it before every
//   step and the engine between layers; a request cancelled before its first step ends at once
//   without touching the engine.
// - Pre-warms (evaluate a prompt into its slot, no output) run at idle priority: only when no
//   other job is queued and no user request is on its way (`userRequestPending`, which the
//   service answers from a counter the client bumps in shared memory before it posts a request:
//   checked between layers, so a user request waits for at most one layer of a pre-warm). A
//   preempted pre-warm stays queued and resumes later from its finished batches; one for a
//   document is dropped when a user request for that document arrives (the request evaluates
//   what it needs itself) or a newer pre-warm of that document replaces it.
import { AbortError, CancelFlag, isAbort, type Cancellation } from "../engine/cancel.ts";
import { PAUSED, type GenerateChunk, type GenerateStats } from "../engine/session.ts";
import type { EngineGenerateRequest } from "../engine/engine.ts";
import type { ChatPrompt, GenerateParams, Slot, WarmParams, WarmStats } from "./protocol.ts";

/** What the scheduler needs of an engine (the real one, or a fake in unit tests). */
export interface GeneratingEngine {
  generate(req: Omit<EngineGenerateRequest, "prompt"> & { prompt: EngineGenerateRequest["prompt"] | ChatPrompt }): AsyncGenerator<GenerateChunk, GenerateStats>;
  /** Evaluates `req.prompt` into its slot; throws an AbortError once `cancel` is set (polled between layers). */
  warm(req: WarmParams, cancel: Cancellation): Promise<WarmStats>;
}

/** Where a pre-warm's outcome goes. */
export interface WarmSink {
  done(stats: WarmStats & { preemptions: number; ms: number }): void;
  error(err: unknown): void;
}

/** Where a job's output goes. */
export interface JobSink {
  delta(text: string, tokens: number): void;
  /** How far the prompt's evaluation is (Session's PromptProgress). */
  promptProgress?(done: number, total: number): void;
  done(stats: GenerateStats): void;
  error(err: unknown): void;
}

const PRIORITY: Record<Slot, number> = { completion: 0, chat: 1 };

interface Job {
  params: GenerateParams;
  sink: JobSink;
  cancel: CancelFlag;
  seq: number;
  gen?: AsyncGenerator<GenerateChunk, GenerateStats>;
}

interface WarmJob {
  params: WarmParams;
  sink: WarmSink;
  cancel: CancelFlag;
  preemptions: number;
  t0: number;
}

/** The engine that serves a slot's requests (each role's model), or undefined when it has none. */
export type EngineRouter = (slot: Slot) => GeneratingEngine | undefined;

export interface SchedulerOptions {
  /** Whether a user request was posted that the worker has not received yet (see the header). */
  userRequestPending?: () => boolean;
}

export function cancelledStats(promptTokens = 0): GenerateStats {
  return { promptTokens, reusedTokens: 0, restoredTokens: 0, evaluatedTokens: 0, generatedTokens: 0, promptMs: 0, generateMs: 0, stopReason: "cancelled" };
}

const sameSlot = (a: { slot: Slot; document?: string }, b: { slot: Slot; document?: string }): boolean => a.slot === b.slot && (a.document ?? "") === (b.document ?? "");

export class Scheduler {
  private readonly jobs: Job[] = [];
  /** Pre-warms, oldest first. */
  private readonly warms: WarmJob[] = [];
  private seq = 0;
  private running = false;
  /** Resolves when the run loop is idle (for dispose and tests). */
  private idle: Promise<void> = Promise.resolve();

  /** What a chat step polls between layers: a completion is queued, or a user request is on its way. */
  private readonly chatPreempted: Cancellation;

  /** Waiting for the queue to hold no job of some slots (drain). */
  private readonly drained = new Set<() => void>();
  private readonly engineFor: EngineRouter;

  /** One engine for every slot, or a router that gives each slot its role's engine. */
  constructor(
    engines: GeneratingEngine | EngineRouter,
    private readonly options: SchedulerOptions = {},
  ) {
    this.engineFor = typeof engines === "function" ? engines : () => engines;
    const urgent = (): boolean => this.jobs.some((j) => j.params.slot === "completion" && !j.cancel.cancelled) || this.options.userRequestPending?.() === true;
    this.chatPreempted = {
      get cancelled() {
        return urgent();
      },
    };
  }

  /**
   * Queues a generation, cancelled through `cancel` (by default the flag whose buffer the params
   * carry); a completion cancels the completions before it.
   */
  submit(params: GenerateParams, sink: JobSink, cancel = new CancelFlag(params.cancelFlag)): void {
    if (params.slot === "completion") {
      for (const j of this.jobs) if (j.params.slot === "completion") j.cancel.cancel();
    }
    for (const w of this.warms) if (sameSlot(w.params, params)) w.cancel.cancel();
    this.jobs.push({ params, sink, cancel, seq: this.seq++ });
    this.kick();
  }

  /** Queues a pre-warm at idle priority; it replaces a queued pre-warm of the same slot. */
  warm(params: WarmParams, sink: WarmSink, cancel = new CancelFlag(params.cancelFlag)): void {
    for (const w of this.warms) if (sameSlot(w.params, params)) w.cancel.cancel();
    this.warms.push({ params, sink, cancel, preemptions: 0, t0: performance.now() });
    this.kick();
  }

  /**
   * Cancels the jobs and pre-warms of `slots` (default: all) and waits until none of them is
   * queued or running (before their engine is unloaded); the other slots' requests go on.
   */
  async drain(slots?: readonly Slot[]): Promise<void> {
    const mine = (p: { slot: Slot }) => !slots || slots.includes(p.slot);
    for (const w of this.warms) if (mine(w.params)) w.cancel.cancel();
    for (const j of this.jobs) if (mine(j.params)) j.cancel.cancel();
    this.kick();
    if (!slots) return this.idle;
    const left = () => this.jobs.some((j) => mine(j.params)) || this.warms.some((w) => mine(w.params));
    while (left()) await new Promise<void>((resolve) => this.drained.add(resolve));
  }

  get size(): number {
    return this.jobs.length + this.warms.length;
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
    // Start on the next turn of the event loop: requests already queued as messages are seen
    // first, so a completion replaced at once never reaches the engine.
    try {
      await new Promise((resolve) => setImmediate(resolve));
      for (;;) {
        const job = this.pick();
        if (job) {
          await this.step(job);
          continue;
        }
        // Cancelled pre-warms end at once; the others wait while a user request is on its way
        // (its message starts a new loop).
        const warm = this.warms.find((w) => w.cancel.cancelled) ?? (this.options.userRequestPending?.() ? undefined : this.warms[0]);
        if (!warm) break;
        await this.stepWarm(warm);
      }
    } finally {
      // Cleared in the same turn as the last pick: a submit after it starts a new loop.
      this.running = false;
    }
  }

  /** Runs one engine step of `job` (its prompt, or one token) and delivers what it produced. */
  private async step(job: Job): Promise<void> {
    const { cancel } = job;
    try {
      if (!job.gen) {
        if (cancel.cancelled) return this.finish(job, cancelledStats());
        const { sink } = job;
        // Nobody wants the progress of a cancelled request (like its text, below).
        const onPromptProgress = (done: number, total: number): void => {
          if (!cancel.cancelled) sink.promptProgress?.(done, total);
        };
        const engine = this.engineFor(job.params.slot);
        if (!engine) throw new Error(`no model is loaded for ${job.params.slot}`);
        // Chat yields to completions between layers (see the header); completions run to their end.
        const preempt = job.params.slot === "chat" ? this.chatPreempted : undefined;
        job.gen = engine.generate({ ...job.params, cancel, onPromptProgress, preempt });
      }
      const r = await job.gen.next();
      if (r.done) return this.finish(job, r.value);
      if (r.value.token === PAUSED) {
        // The request it paused for may still be a message in flight: let the event loop read it.
        await new Promise((resolve) => setImmediate(resolve));
        return;
      }
      // After a cancel the engine may still flush a partial character: nobody wants it.
      // A chunk is one token, except the final flush (token -1).
      if (!cancel.cancelled) job.sink.delta(r.value.text, r.value.token >= 0 ? 1 : 0);
    } catch (err) {
      this.remove(job);
      job.sink.error(err);
    }
  }

  /** Runs a pre-warm until it finishes, is cancelled (it ends) or preempted (it stays queued). */
  private async stepWarm(w: WarmJob): Promise<void> {
    const preempted = (): boolean => this.jobs.length > 0 || this.options.userRequestPending?.() === true;
    // What the engine polls between layers: the warm's own flag, or a user request's arrival.
    const stop: Cancellation = { get cancelled() { return w.cancel.cancelled || preempted(); } };
    const remove = (): void => {
      this.warms.splice(this.warms.indexOf(w), 1);
      this.wakeDrains();
    };
    try {
      if (w.cancel.cancelled) throw new AbortError("pre-warm cancelled");
      const engine = this.engineFor(w.params.slot);
      if (!engine) throw new Error(`no model is loaded for ${w.params.slot}`);
      const stats = await engine.warm(w.params, stop);
      remove();
      w.sink.done({ ...stats, preemptions: w.preemptions, ms: performance.now() - w.t0 });
    } catch (err) {
      if (isAbort(err) && !w.cancel.cancelled) {
        w.preemptions++; // stays queued: resumes from its finished batches
        return;
      }
      remove();
      w.sink.error(err);
    }
  }

  private finish(job: Job, stats: GenerateStats): void {
    this.remove(job);
    job.sink.done(job.cancel.cancelled ? { ...stats, stopReason: "cancelled" } : stats);
  }

  private remove(job: Job): void {
    const i = this.jobs.indexOf(job);
    if (i >= 0) this.jobs.splice(i, 1);
    this.wakeDrains();
  }

  private wakeDrains(): void {
    const waiting = [...this.drained];
    this.drained.clear();
    for (const wake of waiting) wake();
  }
}
