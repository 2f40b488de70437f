// The real OpenClaw (tests/openclaw, npm openclaw@2026.9.6) runs `sidekey mcp` the way its agent
// runs MCP servers, with no model and no gateway: OpenClaw's own bundle-MCP runtime
// (`createBundleMcpToolRuntime`, dist/agent-bundle-mcp-*.mjs) reads `mcp.servers` from the
// openclaw.json that `openclaw mcp add` wrote, starts the server, materializes the agent tools
// (names, parameter schemas as the model gets them) and executes calls through the same
// `execute` an agent turn uses, whose result is what the model would read.
//
//   node openclaw_tools.mjs OPENCLAW_PACKAGE_DIR OPENCLAW_JSON CALLS_JSON
//
// Prints one JSON document: {"tools": [{name, description, parameters}], "calls": [{name,
// input, result}]}. The dist file names carry a per-build hash, so the module is found by what
// it exports, not by name.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [pkg, configPath, callsJson] = process.argv.slice(2);
const dist = path.join(pkg, "dist");
const file = fs
  .readdirSync(dist)
  .filter((f) => f.startsWith("agent-bundle-mcp-tools-") && f.endsWith(".mjs"))
  .find((f) => /export \{[^}]*createBundleMcpToolRuntime/.test(fs.readFileSync(path.join(dist, f), "utf8")));
if (!file) {
  console.error(`no module exporting createBundleMcpToolRuntime in ${dist}`);
  process.exit(3);
}
const { createBundleMcpToolRuntime } = await import(pathToFileURL(path.join(dist, file)).href);
const cfg = JSON.parse(fs.readFileSync(configPath, "utf8"));
const workspaceDir = fs.mkdtempSync(path.join(os.tmpdir(), "openclaw-ws-"));
const runtime = await createBundleMcpToolRuntime({ workspaceDir, cfg });
const out = {
  tools: runtime.tools.map((t) => ({ name: t.name, description: t.description, parameters: t.parameters })),
  diagnostics: runtime.diagnostics ?? [],
  calls: [],
};
let n = 0;
for (const call of JSON.parse(callsJson)) {
  const tool = runtime.tools.find((t) => t.name === call.name);
  let result;
  try {
    result = tool
      ? await tool.execute(`call-${++n}`, call.input ?? {}, undefined)
      : { missing: true };
  } catch (e) {
    result = { thrown: String(e?.message ?? e) };
  }
  out.calls.push({ name: call.name, input: call.input ?? {}, result });
}
await runtime.dispose();
console.log(JSON.stringify(out));
process.exit(0);
