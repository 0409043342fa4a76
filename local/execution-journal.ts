/**
 * The local Step Functions' executions, kept in the data folder (`executions.jsonl`, a
 * local/journal.ts journal). On AWS an execution exists once StartExecution has answered
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html) and runs
 * on whatever happens to its caller; locally the engine runs inside `npm start`, so each start is
 * journaled, durably, before StartExecution (the API's 200, an upload's delivery, a retry's 202)
 * answers, and each end after it happened. At start-up the ended executions are remembered (their
 * names stay used, DescribeExecution answers) and every one not ended runs again, under the same
 * name, input and start date, from its first state: every task of the workflow repeats safely for
 * the same execution (each write is conditional on this execution, docs/architecture.md, "Local
 * mode"), so the release it was running is taken up where its records say it stood.
 */
import path from "node:path";
import type { LocalExecution, LocalWorkflowEngine, WorkflowExecutionStatus } from "./engine";
import { openJournal } from "./journal";

type Entry =
  | { kind: "started"; executionArn: string; name: string; input: unknown; startDate: string }
  | {
      kind: "ended";
      executionArn: string;
      status: WorkflowExecutionStatus;
      stopDate?: string;
      error?: string;
      cause?: string;
      output?: unknown;
    };

type Started = Extract<Entry, { kind: "started" }>;
type Ended = Extract<Entry, { kind: "ended" }>;

export interface ExecutionJournal {
  /** The engine's status change: a start is journaled before StartExecution returns, an end once it happened. */
  record(execution: LocalExecution): void;
  /** Remembers the ended executions and starts again the others; returns those it started. */
  replay(engine: LocalWorkflowEngine): LocalExecution[];
  /** Whether the journal knows this execution (started, ended or not). */
  knows(executionArn: string): boolean;
  /** Records nothing more: a shutdown's aborts are not ends, the executions run again at the next start. */
  close(): void;
}

/** The journal under `dataDir`. */
export function openExecutionJournal(dataDir: string): ExecutionJournal {
  const journal = openJournal<Entry>(path.join(dataDir, "executions.jsonl"));
  const started = new Map<string, Started>();
  const ended = new Map<string, Ended>();
  for (const entry of journal.entries) {
    if (entry.kind === "started" && !started.has(entry.executionArn)) started.set(entry.executionArn, entry);
    if (entry.kind === "ended") ended.set(entry.executionArn, entry);
  }
  let open = true;
  return {
    record(execution) {
      if (!open) return;
      const { executionArn } = execution;
      if (execution.status === "RUNNING") {
        if (started.has(executionArn)) return;
        const entry: Started = {
          kind: "started",
          executionArn,
          name: execution.name,
          input: execution.input,
          startDate: execution.startDate.toISOString(),
        };
        journal.append(entry);
        started.set(executionArn, entry);
        return;
      }
      const entry: Ended = {
        kind: "ended",
        executionArn,
        status: execution.status,
        ...(execution.stopDate && { stopDate: execution.stopDate.toISOString() }),
        ...(execution.error !== undefined && { error: execution.error }),
        ...(execution.cause !== undefined && { cause: execution.cause }),
        ...(execution.output !== undefined && { output: execution.output }),
      };
      journal.append(entry);
      ended.set(executionArn, entry);
    },
    replay(engine) {
      const resumed: LocalExecution[] = [];
      for (const start of started.values()) {
        const end = ended.get(start.executionArn);
        if (end) {
          engine.remember({
            executionArn: start.executionArn,
            name: start.name,
            input: start.input,
            startDate: new Date(start.startDate),
            status: end.status,
            ...(end.stopDate && { stopDate: new Date(end.stopDate) }),
            ...(end.error !== undefined && { error: end.error }),
            ...(end.cause !== undefined && { cause: end.cause }),
            ...(end.output !== undefined && { output: end.output }),
          });
        } else {
          const input = { input: start.input, name: start.name, startDate: new Date(start.startDate) };
          resumed.push(engine.startExecution(input));
        }
      }
      return resumed;
    },
    knows: (executionArn) => started.has(executionArn),
    close() {
      open = false;
      journal.close();
    },
  };
}
