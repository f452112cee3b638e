// Tokenises .xnet files with the extension's TextMate grammar, as VS Code does (vscode-textmate
// with the Oniguruma regex engine), and prints {file: [[line, column, text, [scope, ...]], ...]}
// as JSON: lines and columns 0-based, one entry per token, the scopes outermost first.
// Usage: node test/tokenize.js FILE...
"use strict";

const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

const GRAMMAR = path.join(__dirname, "..", "syntaxes", "xnet.tmLanguage.json");
const WASM = require.resolve("vscode-oniguruma/release/onig.wasm");

async function loadGrammar() {
  const wasm = fs.readFileSync(WASM).buffer;
  await oniguruma.loadWASM(wasm);
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== "source.xnet") return null;
      const text = fs.readFileSync(GRAMMAR, "utf8");
      return vsctm.parseRawGrammar(text, GRAMMAR);
    },
  });
  return registry.loadGrammar("source.xnet");
}

function tokenise(grammar, text) {
  const out = [];
  let stack = vsctm.INITIAL;
  text.split(/\r?\n/).forEach((line, n) => {
    const result = grammar.tokenizeLine(line, stack);
    for (const t of result.tokens) {
      const end = Math.min(t.endIndex, line.length);
      if (end > t.startIndex) out.push([n, t.startIndex, line.slice(t.startIndex, end), t.scopes]);
    }
    stack = result.ruleStack;
  });
  return out;
}

async function main() {
  const grammar = await loadGrammar();
  const files = {};
  for (const file of process.argv.slice(2)) {
    files[file] = tokenise(grammar, fs.readFileSync(file, "utf8"));
  }
  process.stdout.write(JSON.stringify(files));
}

main().catch((err) => {
  process.stderr.write(`${err.stack || err}\n`);
  process.exit(1);
});
