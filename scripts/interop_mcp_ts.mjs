// The official MCP TypeScript SDK (npm @modelcontextprotocol/sdk) as an
// independent client of our MCP servers. Run by scripts/interop-mcp-ts.sh:
//
//   node interop_mcp_ts.mjs SDK_DIR stdio LABEL SERVER_NAME COMMAND [ARGS...]
//   node interop_mcp_ts.mjs SDK_DIR http  LABEL SERVER_NAME URL
//
// SDK_DIR is the installed package (…/node_modules/@modelcontextprotocol/sdk);
// it lives outside the repository, so it is imported by path. One line per
// check, `PASS [LABEL] name` or `FAIL [LABEL] name: detail`; exit 1 when a
// check failed or the session broke.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [sdkDir, mode, label, serverName, ...rest] = process.argv.slice(2);
const sdk = (p) => import(pathToFileURL(path.join(sdkDir, 'dist/esm', p)).href);
const { Client } = await sdk('client/index.js');
const { StdioClientTransport } = await sdk('client/stdio.js');
const { StreamableHTTPClientTransport } = await sdk('client/streamableHttp.js');
const { SSEClientTransport } = await sdk('client/sse.js');
const { LoggingMessageNotificationSchema, ResultSchema } = await sdk('types.js');

let failures = 0;
function check(name, ok, detail) {
  if (ok) {
    console.log(`PASS [${label}] ${name}`);
  } else {
    failures += 1;
    const d = detail === undefined ? '' : `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`;
    console.log(`FAIL [${label}] ${name}${d.slice(0, 400)}`);
  }
}

/** The JSON-RPC error code of a rejected call (McpError.code), or the error. */
async function errorCode(promise) {
  try {
    const r = await promise;
    return { result: r };
  } catch (e) {
    return { code: e?.code, message: String(e?.message ?? e) };
  }
}

async function session(client, transport) {
  const logs = [];
  // Progress that arrives in the same read as its result reaches the SDK
  // after it dropped the request's progress handler (it dispatches
  // notifications a microtask later than responses), and comes out here as
  // "a progress notification for an unknown token". It was still sent, in
  // order, with the request's token: count it.
  const lateProgress = [];
  client.onerror = (e) => {
    const m = /progress notification for an unknown token: (.*)$/.exec(e?.message ?? '');
    if (m) {
      lateProgress.push(JSON.parse(m[1]).params);
    } else if (!/AbortError/.test(e?.message ?? '')) {
      // (The standalone GET stream is aborted by close(): not worth a line.)
      console.error(`[${label}] client error: ${e?.message ?? e}`);
    }
  };
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    logs.push(n.params);
  });
  // The client hands the negotiated revision to its transport.
  let negotiated;
  const setVersion = transport.setProtocolVersion?.bind(transport);
  transport.setProtocolVersion = (v) => {
    negotiated = v;
    setVersion?.(v);
  };
  await client.connect(transport);
  check('initialize: protocol version 2025-11-25', negotiated === '2025-11-25', negotiated);
  const info = client.getServerVersion();
  check('initialize: server info', info?.name === serverName, info);
  const caps = client.getServerCapabilities() ?? {};
  check('initialize: tools, resources, prompts and logging advertised',
    caps.tools && caps.resources && caps.prompts && caps.logging, caps);
  check('initialize: instructions', client.getInstructions() === 'Demo tools: echo and add.',
    client.getInstructions());

  check('ping', (await errorCode(client.ping())).result !== undefined);

  const tools = (await client.listTools()).tools;
  const names = tools.map((t) => t.name);
  check('tools/list: echo and add', JSON.stringify(names) === '["echo","add"]', names);
  const echo = tools.find((t) => t.name === 'echo');
  check('tools/list: echo has input and output schemas',
    JSON.stringify(echo?.inputSchema?.required) === '["text"]'
      && JSON.stringify(echo?.outputSchema?.required) === '["text","length"]', echo);

  // The SDK checks structuredContent against the tool's outputSchema.
  const progress = [];
  const r = await client.callTool({ name: 'echo', arguments: { text: 'héllo ✓' } }, undefined, {
    onprogress: (p) => progress.push(p),
  });
  check('tools/call echo: not an error', !r.isError, r);
  check('tools/call echo: structured content (validated by the SDK)',
    r.structuredContent?.text === 'héllo ✓' && r.structuredContent?.length === 7, r.structuredContent);
  check('tools/call echo: text content', r.content?.length === 1 && r.content[0].type === 'text', r.content);
  await new Promise((res) => setTimeout(res, 50));
  const seen = [...progress, ...lateProgress];
  check('notifications/progress for echo', seen.length === 1 && seen[0].progress === 1
    && seen[0].total === 1 && seen[0].message === 'echoed', seen);

  const add = await client.callTool({ name: 'add', arguments: { a: 2, b: 40.5 } });
  check('tools/call add: 42.5', !add.isError && add.content?.[0]?.text === '42.5', add);
  const bad = await errorCode(client.callTool({ name: 'add', arguments: { a: 'x' } }));
  check('tools/call add with bad arguments: isError result', bad.result?.isError === true, bad);
  const unknown = await errorCode(client.callTool({ name: 'no_such_tool', arguments: {} }));
  check('tools/call of an unknown tool: JSON-RPC error -32602', unknown.code === -32602, unknown);

  const res = (await client.listResources()).resources;
  check('resources/list: the greeting', JSON.stringify(res.map((x) => x.uri)) === '["demo://greeting"]', res);
  const templates = await errorCode(client.listResourceTemplates());
  check('resources/templates/list: a list', Array.isArray(templates.result?.resourceTemplates), templates);
  const rr = await client.readResource({ uri: 'demo://greeting' });
  check('resources/read: text contents', rr.contents?.length === 1
    && rr.contents[0].text === 'Hello from a sans-IO MCP server.', rr);
  const missing = await errorCode(client.readResource({ uri: 'demo://nothing' }));
  check('resources/read of an unknown resource: error -32002', missing.code === -32002, missing);

  const prompts = (await client.listPrompts()).prompts;
  check('prompts/list: greet with a required argument', prompts.length === 1
    && prompts[0].name === 'greet' && prompts[0].arguments?.[0]?.required === true, prompts);
  const gp = await client.getPrompt({ name: 'greet', arguments: { name: 'Ada' } });
  check('prompts/get: the message', gp.messages?.length === 1 && gp.messages[0].role === 'user'
    && gp.messages[0].content?.text === 'Please greet Ada warmly.', gp);
  const nop = await errorCode(client.getPrompt({ name: 'no_such_prompt', arguments: {} }));
  check('prompts/get of an unknown prompt: JSON-RPC error -32602', nop.code === -32602, nop);

  // Methods the server does not have, and bad params, over the SDK's raw request.
  const nomethod = await errorCode(client.request({ method: 'no/such/method', params: {} }, ResultSchema));
  check('an unknown method: JSON-RPC error -32601', nomethod.code === -32601, nomethod);
  const badParams = await errorCode(client.request({ method: 'resources/read', params: { uri: 7 } }, ResultSchema));
  check('resources/read with uri 7: JSON-RPC error -32602', badParams.code === -32602, badParams);

  await client.setLoggingLevel('debug');
  check('logging/setLevel', true);
  await client.callTool({ name: 'add', arguments: { a: 1, b: 1 } });
  await new Promise((res) => setTimeout(res, 200));
  check('notifications/message received', logs.some((l) => JSON.stringify(l.data).includes('called')), logs);
}

async function main() {
  const client = new Client({ name: 'ts-interop', version: '1.0.0' }, { capabilities: {} });
  if (mode === 'stdio') {
    const [command, ...args] = rest;
    const transport = new StdioClientTransport({ command, args, stderr: 'inherit' });
    await session(client, transport);
    // The SDK ends stdin, waits up to 2 s for the exit, then signals.
    const child = transport._process;
    const started = Date.now();
    await client.close();
    const took = Date.now() - started;
    check('stdio: the server exits 0 on its own once stdin closes',
      took < 1900 && child?.exitCode === 0 && child?.signalCode === null,
      { took, exitCode: child?.exitCode, signal: child?.signalCode });
    return;
  }
  const url = new URL(rest[0]);
  if (mode === 'sse') {
    // The 2024-11-05 HTTP+SSE transport: the GET stream and its endpoint.
    const transport = new SSEClientTransport(url);
    await session(client, transport);
    const endpoint = transport._endpoint?.href ?? '';
    check('HTTP+SSE: the endpoint is /messages?sessionId=<32 hex digits>',
      /\/messages\?sessionId=[0-9a-f]{32}$/.test(endpoint), endpoint);
    await client.close();
    // The stream is closed: the session ends (found at the next write).
    let status = 0;
    for (let i = 0; i < 20 && status !== 404; i += 1) {
      const r = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      });
      status = r.status;
      if (status !== 404) await new Promise((res) => setTimeout(res, 250));
    }
    check('HTTP+SSE: the session ends with its stream (POST → 404)', status === 404, status);
    return;
  }
  const transport = new StreamableHTTPClientTransport(url);
  await session(client, transport);
  const sid = transport.sessionId;
  check('streamable HTTP: an Mcp-Session-Id of 32 hex digits', /^[0-9a-f]{32}$/.test(sid ?? ''), sid);
  await transport.terminateSession();
  check('streamable HTTP: terminateSession (DELETE) accepted', transport.sessionId === undefined, transport.sessionId);
  await client.close();
  const after = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-session-id': sid,
      'mcp-protocol-version': '2025-11-25',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
  });
  check('streamable HTTP: the deleted session gets 404', after.status === 404, after.status);

  // A second client of the same server, and a bad session: the SDK reports the 404.
  const other = new Client({ name: 'ts-interop-2', version: '1.0.0' });
  const t2 = new StreamableHTTPClientTransport(url, { sessionId: 'f'.repeat(32) });
  const refused = await errorCode(other.connect(t2).then(() => other.listTools()));
  check('streamable HTTP: an unknown session id is refused (404)', refused.result === undefined
    && refused.code === 404, refused);
  await other.close().catch(() => {});
}

try {
  await main();
} catch (e) {
  failures += 1;
  console.log(`FAIL [${label}] the session broke: ${e?.stack ?? e}`);
}
process.exit(failures === 0 ? 0 : 1);
