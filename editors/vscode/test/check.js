// What can be checked of the extension without VS Code: the files package.json names exist,
// language-configuration.json's regular expressions compile (as VS Code compiles them, in
// JavaScript), and activate() starts a language client with the expected server command
// (vscode and the client are stand-ins that record what they are given). Prints a JSON report.
// Usage: node test/check.js [xnet.server.path]
"use strict";

const fs = require("fs");
const path = require("path");
const Module = require("module");

const ROOT = path.join(__dirname, "..");
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));

function files() {
  const c = pkg.contributes;
  const named = [pkg.main, ...c.languages.map((l) => l.configuration), ...c.grammars.map((g) => g.path)];
  return named.map((p) => ({ path: p, exists: fs.existsSync(path.join(ROOT, p)) }));
}

function regexes() {
  const conf = JSON.parse(fs.readFileSync(path.join(ROOT, "language-configuration.json"), "utf8"));
  const found = [["wordPattern", conf.wordPattern]];
  for (const [k, v] of Object.entries(conf.indentationRules || {})) found.push([k, v]);
  (conf.onEnterRules || []).forEach((r, i) => {
    for (const k of ["beforeText", "afterText", "previousLineText"]) {
      if (r[k] !== undefined) found.push([`onEnterRules[${i}].${k}`, r[k]]);
    }
  });
  return found.map(([where, source]) => {
    try {
      new RegExp(source);
      return { where, source, error: null };
    } catch (err) {
      return { where, source, error: err.message };
    }
  });
}

async function activation(serverPath) {
  const seen = { clients: [], commands: [] };
  const settings = serverPath ? { "server.path": serverPath } : {};
  const vscode = {
    workspace: {
      getConfiguration: (section) => ({ get: (key) => (section === "xnet" ? settings[key] : undefined) }),
      onDidChangeConfiguration: () => ({ dispose() {} }),
    },
    commands: {
      registerCommand: (name) => {
        seen.commands.push(name);
        return { dispose() {} };
      },
    },
    window: { showErrorMessage: (m) => seen.clients.push({ error: m }) },
  };
  class LanguageClient {
    constructor(id, name, server, client) {
      this.record = { id, name, server, selector: client.documentSelector, started: false };
      seen.clients.push(this.record);
    }
    async start() {
      this.record.started = true;
    }
    async stop() {}
  }
  const stand_ins = { vscode, "vscode-languageclient/node": { LanguageClient } };
  const load = Module._load;
  Module._load = function (request, ...rest) {
    return request in stand_ins ? stand_ins[request] : load.call(this, request, ...rest);
  };
  try {
    const ext = require(path.join(ROOT, pkg.main));
    await ext.activate({ subscriptions: [] });
  } finally {
    Module._load = load;
  }
  return seen;
}

async function main() {
  const report = {
    package: {
      name: pkg.name,
      main: pkg.main,
      activationEvents: pkg.activationEvents,
      languages: pkg.contributes.languages,
      grammars: pkg.contributes.grammars,
      settings: Object.keys(pkg.contributes.configuration.properties),
      dependencies: pkg.dependencies,
    },
    grammarScope: JSON.parse(
      fs.readFileSync(path.join(ROOT, pkg.contributes.grammars[0].path), "utf8")
    ).scopeName,
    files: files(),
    regexes: regexes(),
    activation: await activation(process.argv[2]),
  };
  process.stdout.write(JSON.stringify(report));
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
