import * as ts from "typescript";
import { readFileSync } from "node:fs";
import { execSync } from "node:child_process";
const files = execSync("git ls-files '*.ts'", { encoding: "utf8" })
  .split("\n")
  .filter((f) => f && !f.startsWith("test/") && !f.startsWith(".scratch"));
for (const file of files) {
  const src = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && (node as ts.FunctionLikeDeclaration).body) {
      const start = src.getLineAndCharacterOfPosition(node.getStart()).line;
      const end = src.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      const name =
        (node as ts.FunctionDeclaration).name?.getText() ??
        (ts.isConstructorDeclaration(node) ? "constructor" : "(anonymous)");
      if (lines > 80) console.log(`${file}:${start + 1} ${name} ${lines}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(src);
}
