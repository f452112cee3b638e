// The xnet extension: highlighting comes from the grammar in package.json; this starts the
// dslc language server (`dslc lsp`, stdin/stdout) for .xnet files. Plain JavaScript, no build.
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

// The command that serves the LSP: `<xnet.server.path> lsp [xnet.server.extraArgs...]`.
// No `transport` is given on purpose: with TransportKind.stdio the client would append
// `--stdio`, an option `dslc lsp` does not take; without one it talks over stdio as is.
function serverOptions(config) {
  const command = config.get("server.path") || "dslc";
  const args = ["lsp", ...(config.get("server.extraArgs") || [])];
  const run = { command, args };
  return { run, debug: run };
}

// the server reads imported files from disk at each check, so no file watcher is needed
function clientOptions() {
  return { documentSelector: [{ language: "xnet" }] };
}

async function start() {
  const config = vscode.workspace.getConfiguration("xnet");
  client = new LanguageClient("xnet", "dslc language server", serverOptions(config), clientOptions());
  try {
    await client.start();
  } catch (err) {
    const path = config.get("server.path") || "dslc";
    vscode.window.showErrorMessage(
      `xnet: could not start '${path} lsp' (${err.message || err}). ` +
        "Install it with: pip install 'dslc[lsp]', or set xnet.server.path."
    );
  }
}

async function stop() {
  if (client) {
    const old = client;
    client = undefined;
    await old.stop();
  }
}

async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand("xnet.server.restart", async () => {
      await stop();
      await start();
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration("xnet.server")) {
        await stop();
        await start();
      }
    })
  );
  await start();
}

function deactivate() {
  return stop();
}

module.exports = { activate, deactivate, serverOptions };
