/**
 * A pipeline's stage locks: how its execution mode lets executions into stages, as "How pipeline
 * executions work" documents it (docs/aws-facts.md, "CodePipeline").
 *
 * - SUPERSEDED and QUEUED: a stage holds one execution at a time; an execution that finished a
 *   stage leaves it and waits in front of the next one while that one is locked.
 * - SUPERSEDED: one execution waits in front of a stage; when a more recent one arrives there, the
 *   waiting one is superseded (it ends Superseded, with its SUPERSEDED event). Modelled at stage
 *   granularity: nothing is superseded inside a stage.
 * - QUEUED: the waiting executions form a queue in front of the stage and enter it in the order
 *   they arrived; none is superseded.
 * - PARALLEL: no locks; every execution runs on its own.
 */
import type { PipelineRun, StageGate } from "./codepipeline-run";
import type { ExecutionMode } from "./codepipeline-spec";

export class StageLocks implements StageGate {
  private readonly holders = new Map<number, PipelineRun>();
  private readonly waiting = new Map<number, PipelineRun[]>();

  constructor(readonly mode: ExecutionMode) {}

  /** The execution holding stage `index`, if any. */
  holder(index: number): PipelineRun | undefined {
    return this.holders.get(index);
  }

  /** Whether `run` may enter stage `index` now (a retry checks this before resuming). */
  isFree(index: number, run: PipelineRun): boolean {
    if (this.mode === "PARALLEL") return true;
    const holder = this.holders.get(index);
    return holder === undefined || holder === run;
  }

  request(run: PipelineRun, index: number): void {
    if (this.isFree(index, run)) return this.admit(run, index);
    run.waitingFor = index;
    const queue = this.waiting.get(index) ?? [];
    this.waiting.set(index, queue);
    if (this.mode === "QUEUED") {
      queue.push(run);
      return;
    }
    // SUPERSEDED: whichever of the waiting and the arriving execution is older is superseded.
    const [waiter] = queue;
    if (waiter === undefined) queue.push(run);
    else if (waiter.seq < run.seq) {
      queue.splice(0, 1, run);
      waiter.supersede();
    } else run.supersede();
  }

  hold(run: PipelineRun, index: number): void {
    if (this.mode !== "PARALLEL") this.holders.set(index, run);
  }

  leave(run: PipelineRun, index: number): void {
    if (this.holders.get(index) !== run) return;
    this.holders.delete(index);
    const next = this.waiting.get(index)?.shift();
    if (next) this.admit(next, index);
  }

  forget(run: PipelineRun): void {
    for (const queue of this.waiting.values()) {
      const at = queue.indexOf(run);
      if (at >= 0) queue.splice(at, 1);
    }
  }

  private admit(run: PipelineRun, index: number): void {
    this.hold(run, index);
    run.enter(index);
  }
}
