// Parses an AsyncAPI document with the real @asyncapi/parser and fails on any error.
//
//   node check_asyncapi.cjs <document.json>
// NODE_PATH must name the node_modules folder holding @asyncapi/parser (scripts/node-tools.sh).
// Prints every diagnostic (severity 0 error, 1 warning, 2 information, 3 hint) as one JSON
// line on stdout; exits 1 when any is an error, when the parser returned no document, or when
// a local `$ref` of the raw document names nothing in it (checked here too, not only by the
// parser's own rules).
'use strict';

const fs = require('fs');
const { Parser } = require('@asyncapi/parser');

const SEVERITY = ['error', 'warning', 'information', 'hint'];

// Every `$ref` under `node` that is not a local pointer naming something in `root`.
function danglingRefs(root, node, path = [], out = []) {
  if (Array.isArray(node)) {
    node.forEach((item, i) => danglingRefs(root, item, [...path, String(i)], out));
  } else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string' && !resolves(root, value)) out.push({ path: path.join('/'), ref: value });
      else danglingRefs(root, value, [...path, key], out);
    }
  }
  return out;
}

function resolves(root, ref) {
  if (!ref.startsWith('#/')) return false;
  let node = root;
  for (const raw of ref.slice(2).split('/')) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !Object.prototype.hasOwnProperty.call(node, token)) return false;
    node = node[token];
  }
  return true;
}

async function main() {
  const path = process.argv[2];
  if (!path) {
    console.error('usage: node check_asyncapi.cjs <document.json>');
    process.exit(2);
  }
  const text = fs.readFileSync(path, 'utf8');
  const parser = new Parser();
  const { document, diagnostics } = await parser.parse(text, { source: path });
  let errors = 0;
  const raw = JSON.parse(text);
  for (const { path: where, ref } of danglingRefs(raw, raw)) {
    errors += 1;
    console.log(JSON.stringify({ severity: 'error', code: 'dangling-ref', path: where, message: `'${ref}' names nothing in the document` }));
  }
  for (const d of diagnostics) {
    const severity = SEVERITY[d.severity] ?? String(d.severity);
    if (d.severity === 0) errors += 1;
    console.log(JSON.stringify({ severity, code: d.code, path: (d.path || []).join('/'), message: d.message }));
  }
  if (document === undefined) {
    console.error('the parser returned no document');
    process.exit(1);
  }
  if (errors > 0) {
    console.error(`${errors} error(s)`);
    process.exit(1);
  }
  console.error(`ok: ${document.version()} with ${document.channels().length} channels, ${document.messages().length} messages`);
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
