// Drives a stdio MCP server process (here: mcp-remote, the stdio ↔ HTTP bridge) with the
// official TypeScript SDK's StdioClientTransport: connects, lists tools, calls each tool in
// TOOL_CALLS (JSON [{name, arguments}]), and prints one JSON summary line on stdout.
// Usage: node stdio_client.mjs NODE_DIR COMMAND [ARGS...]
// NODE_DIR is test/node (where @modelcontextprotocol/sdk is installed). The child inherits
// this process's environment (PATH, BROWSER, HOME, MCP_REMOTE_CONFIG_DIR set by the test).
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const [nodeDir, command, ...args] = process.argv.slice(2);
const require = createRequire(nodeDir + '/');
const load = async (p) => import(pathToFileURL(require.resolve(p)).href);
const { Client } = await load('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = await load('@modelcontextprotocol/sdk/client/stdio.js');

const transport = new StdioClientTransport({ command, args, env: process.env, stderr: 'pipe' });
let stderr = '';
transport.stderr?.on('data', (d) => { stderr += d.toString(); });
const client = new Client({ name: 'mcpgate-demo-interop', version: '1.0.0' });
const out = { ok: false };
try {
  await client.connect(transport);
  out.server = client.getServerVersion();
  const tools = await client.listTools();
  out.tools = tools.tools.map((t) => t.name).sort();
  out.calls = [];
  for (const c of JSON.parse(process.env.TOOL_CALLS || '[]')) {
    const r = await client.callTool(c);
    out.calls.push({
      name: c.name,
      isError: !!r.isError,
      text: (r.content || []).filter((x) => x.type === 'text').map((x) => x.text).join('\n'),
      structured: r.structuredContent,
    });
  }
  out.ok = true;
} catch (e) {
  out.error = String(e?.stack || e);
} finally {
  await client.close().catch(() => {});
}
out.stderr = stderr;
process.stdout.write(JSON.stringify(out) + '\n');
process.exit(out.ok ? 0 : 1);
