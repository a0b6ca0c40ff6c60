// Benchmark bodies: a small tools/call, and string-heavy (one long string argument, like file
// contents or base64) and object-heavy bodies at about 64 KB and 1 MB.
export interface BenchBody { name: string; body: Buffer }

function toolsCall(args: unknown): Buffer {
  return Buffer.from(JSON.stringify({ jsonrpc: "2.0", id: 42, method: "tools/call", params: { name: "echo", arguments: args, _meta: { progressToken: 42 } } }));
}

function stringHeavy(size: number): Buffer {
  // base64-like text with an occasional escape, as file contents carry.
  let s = "";
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (let i = 0; s.length < size; i++) s += i % 997 === 0 ? "\n" : alphabet[(i * 7919) % 64];
  return toolsCall({ message: s });
}

function objectHeavy(size: number): Buffer {
  const rows: unknown[] = [];
  let approx = 0;
  for (let i = 0; approx < size; i++) {
    const row = { id: i, name: `item-${i}`, price: (i * 37) % 1000 / 10, tags: ["a", "b", i % 2 === 0], ok: i % 3 === 0, nested: { x: i, y: null } };
    rows.push(row);
    approx += JSON.stringify(row).length + 1;
  }
  return toolsCall({ rows });
}

export function benchBodies(): BenchBody[] {
  return [
    { name: "tools/call ~300 B", body: toolsCall({ message: "Summarise the quarterly report for the finance team, in three bullet points, and flag any numbers that changed by more than ten percent since last quarter." }) },
    { name: "string-heavy 64 KB", body: stringHeavy(64 * 1024) },
    { name: "object-heavy 64 KB", body: objectHeavy(64 * 1024) },
    { name: "string-heavy 1 MB", body: stringHeavy(1000 * 1024) },
    { name: "object-heavy 1 MB", body: objectHeavy(1000 * 1024) },
  ];
}
