#!/usr/bin/env node
/* global require, __dirname, process */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS shim */
// `release-machine …`. Packaged (cli/package.json, built by `npm run pack:cli`) it runs the
// compiled JavaScript in dist/, needing only the package's declared dependencies. In this
// repository it runs cli/main.ts through ts-node, a devDependency installed by `npm ci`.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const compiled = path.join(__dirname, "dist", "cli", "main.js");
if (fs.existsSync(compiled)) {
  require(compiled).run();
} else {
  let tsNode;
  try {
    tsNode = require("ts-node");
  } catch {
    process.stderr.write(
      "release-machine: this is the source checkout, which runs through ts-node (a devDependency): " +
        "run `npm ci` here, or install the packaged CLI (`npm run pack:cli`).\n",
    );
    process.exit(1);
  }
  tsNode.register({ transpileOnly: true, project: path.join(__dirname, "..", "tsconfig.json") });
  require("./main.ts").run();
}
