import "../local/polyfills";
import { StateMachine } from "aws-local-stepfunctions";
(async () => {
  const def = {
    StartAt: "A",
    States: {
      A: {
        Type: "Task",
        Resource: "arn:aws:lambda:us-east-1:1:function:x",
        ResultSelector: { "text.$": "$.Payload.text" },
        ResultPath: "$",
        Next: "B",
      },
      B: { Type: "Pass", Parameters: { "t.$": "$.text" }, End: true },
    },
  };
  const m = new StateMachine(def as never, { validationOptions: { noValidate: true } });
  const r = m.run({ request: 1 } as never, {
    overrides: { taskResourceLocalHandlers: { A: async () => ({ Payload: { text: "hi" } }) } } as never,
  });
  console.log(JSON.stringify(await r.result));
})().catch((e) => console.error("ERR", e));
