// values.yaml, values.schema.json and README.md of the chart agree:
//  - every key of values.yaml is in the schema, and every schema property has a default there;
//  - every value (a leaf, or an object the schema leaves open, like podSecurityContext) has a row
//    in README.md's table, and every row names a value that exists.
//
//   node values_doc_check.mjs CHART_DIR      (PORTICO_CHART_NODE_DIR: where `yaml` is installed)
// Prints a line per failure, then "validate: N passed, M failed"; exits 1 on any failure.

import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import process from "node:process";

const chartDir = process.argv[2];
if (!chartDir || !process.env.PORTICO_CHART_NODE_DIR) {
  console.error("usage: PORTICO_CHART_NODE_DIR=DIR node values_doc_check.mjs CHART_DIR");
  process.exit(2);
}
const require = createRequire(path.join(path.resolve(process.env.PORTICO_CHART_NODE_DIR), "package.json"));
const YAML = require("yaml");

let passed = 0;
let failed = 0;
function check(name, ok) {
  if (ok) passed++;
  else {
    failed++;
    console.log(`FAIL [docs] ${name}`);
  }
}

const values = YAML.parse(fs.readFileSync(path.join(chartDir, "values.yaml"), "utf8"));
const schema = JSON.parse(fs.readFileSync(path.join(chartDir, "values.schema.json"), "utf8"));
const readme = fs.readFileSync(path.join(chartDir, "README.md"), "utf8");

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
// The rows of the table under "## Values" (up to the next "## " heading).
const valuesSection = readme.split(/^## Values\s*$/m)[1]?.split(/^## /m)[0] ?? "";
check('README.md has a "## Values" section', valuesSection !== "");
const documented = new Set([...valuesSection.matchAll(/^\|\s*`([^`]+)`\s*\|/gm)].map((m) => m[1]));
const leaves = new Set();

function walkValues(value, node, prefix) {
  for (const [key, v] of Object.entries(value)) {
    const p = prefix ? `${prefix}.${key}` : key;
    const prop = node?.properties?.[key];
    check(`values.yaml ${p} is described by values.schema.json`, prop !== undefined);
    if (isObject(v) && Object.keys(v).length > 0 && prop?.properties) walkValues(v, prop, p);
    else leaves.add(p);
  }
}

function walkSchema(node, value, prefix) {
  for (const [key, prop] of Object.entries(node.properties || {})) {
    if (!prefix && key === "global") continue;
    const p = prefix ? `${prefix}.${key}` : key;
    check(`values.schema.json ${p} has a default in values.yaml`, isObject(value) && key in value);
    if (prop.properties && isObject(value?.[key])) walkSchema(prop, value[key], p);
  }
}

walkValues(values, schema, "");
walkSchema(schema, values, "");
for (const leaf of leaves) check(`README.md documents \`${leaf}\` (a row "| \`${leaf}\` | ...")`, documented.has(leaf));
for (const row of documented) check(`README.md row \`${row}\` names a value of values.yaml`, leaves.has(row));

console.log(`validate: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
