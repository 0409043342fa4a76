/**
 * The benchmark's own pieces (bench/): its command line, the graphs' critical paths, and the
 * engine's cost counting it relies on (local/history.ts), fed one event at a time as the engine does.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { DEFAULT_OUT, parseArgs } from "../bench/args";
import { GRAPHS, criticalPathSeconds, levelsOf } from "../bench/simulation";
import type { LocalWorkflowEngine } from "../local/engine";
import { CostCounter, type EngineEvent, costsOf } from "../local/history";
import type { StateMachineDefinition } from "../stepfunction/asl";

const graph = (key: string) => {
  const found = GRAPHS.find((g) => g.key === key);
  if (!found) throw new Error(`no graph ${key}`);
  return found.pipelines;
};

describe("bench", () => {
  describe("command line", () => {
    it("writes to bench/out/ (gitignored) unless --out names a path", () => {
      assert.deepEqual(parseArgs([]), { json: false, out: DEFAULT_OUT });
      assert.equal(
        path.relative(path.join(__dirname, ".."), DEFAULT_OUT),
        path.join("bench", "out", "RESULTS.md"),
      );
      assert.deepEqual(parseArgs(["--json", "--out", "x/r.md"]), { json: true, out: path.resolve("x/r.md") });
      assert.deepEqual(parseArgs(["--out=bench/RESULTS.md"]).out, path.resolve("bench/RESULTS.md"));
    });

    it("refuses unknown arguments and an --out without a path", () => {
      assert.throws(() => parseArgs(["--output", "x"]), /unknown argument --output/);
      assert.throws(() => parseArgs(["--out"]), /--out needs a path/);
    });
  });

  describe("graphs", () => {
    it("a(5)→c(60) beside b(60)→d(5): critical path 65 min over 2 levels", () => {
      assert.equal(criticalPathSeconds(graph("twoChains")), 65 * 60);
      assert.equal(levelsOf(graph("twoChains")), 2);
    });

    it("the 5-pipeline graph has three dependency levels", () => {
      assert.equal(graph("threeLevels").length, 5);
      assert.equal(levelsOf(graph("threeLevels")), 3);
      assert.equal(criticalPathSeconds(graph("threeLevels")), 30 * 60);
    });
  });

  describe("cost counting", () => {
    const definition = {
      StartAt: "Work",
      States: {
        Work: { Type: "Task", Resource: "arn:aws:states:::lambda:invoke", Next: "Done" },
        Done: { Type: "Succeed" },
      },
    } as unknown as StateMachineDefinition;
    const log: EngineEvent[] = [
      { type: "ExecutionStarted", timestamp: 1 },
      { type: "StateEntered", timestamp: 2, state: { name: "Work", type: "Task" } },
      { type: "StateExited", timestamp: 3, state: { name: "Work", type: "Task" } },
      { type: "StateEntered", timestamp: 4, state: { name: "Done", type: "Succeed" } },
      { type: "StateExited", timestamp: 5, state: { name: "Done", type: "Succeed" } },
      { type: "ExecutionSucceeded", timestamp: 6 },
    ];

    it("counts the same fed one event at a time (as the engine feeds it) as from the whole log", () => {
      const counter = new CostCounter(definition);
      for (const event of log) counter.addAll([event]);
      assert.deepEqual(counter.costs, costsOf(log, definition));
      // 2 states entered; history: execution 2 + states 4 + the Task's scheduled, started, succeeded 3.
      assert.deepEqual(counter.costs, { transitions: 2, historyEvents: 9 });
    });

    it("gives an engine run its transitions and history, and fails it past the history quota", async () => {
      const { LocalWorkflowEngine: Engine } = await import("../local/engine");
      const passes = {
        StartAt: "A",
        States: { A: { Type: "Pass", Next: "B" }, B: { Type: "Pass", Next: "C" }, C: { Type: "Succeed" } },
      } as unknown as StateMachineDefinition;
      const services = { functions: {} } as unknown as ConstructorParameters<typeof LocalWorkflowEngine>[1];
      const ok = await new Engine(passes, services).startExecution({ input: {} }).done;
      assert.equal(ok.status, "SUCCEEDED");
      assert.deepEqual(ok.costs, { transitions: 3, historyEvents: 8 });
      const limited = await new Engine(passes, services, { historyLimit: 5 }).startExecution({ input: {} })
        .done;
      assert.equal(limited.status, "FAILED");
      assert.equal(limited.error, "States.Runtime");
    });
  });
});
