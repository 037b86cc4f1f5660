// Validates rendered Kubernetes manifests (multi-document YAML from files or stdin) against the Kubernetes OpenAPI
// schemas bundled in kubernetes-models, and the KEDA and prometheus-operator CRD schemas for ScaledObject and
// ServiceMonitor. Every document must be a known kind: an unknown apiVersion/kind is an error, never a pass.
// Usage: node validate.mjs [file ...]   (no files: stdin). Prints one line per object; exit 1 if any is invalid.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

// apiVersion group -> the module that holds its classes (core "v1" has no group).
const modules = {
  "": (version) => `kubernetes-models/${version}`,
  "keda.sh": (version) => `@kubernetes-models/keda/keda.sh/${version}`,
  "monitoring.coreos.com": (version) => `@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version}`,
};
const kubernetesGroups = ["apps", "batch", "policy", "autoscaling", "rbac.authorization.k8s.io", "networking.k8s.io"];

async function modelClass(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const path = kubernetesGroups.includes(group) ? `kubernetes-models/${group}/${version}` : modules[group]?.(version);
  if (!path) return null;
  try {
    return (await import(path))[kind] ?? null;
  } catch {
    return null;
  }
}

const sources = process.argv.length > 2 ? process.argv.slice(2).map((f) => [f, readFileSync(f, "utf8")]) : [["<stdin>", readFileSync(0, "utf8")]];
let objects = 0;
let failures = 0;
for (const [source, text] of sources) {
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) {
      console.log(`INVALID ${source}: YAML: ${doc.errors.map((e) => e.message).join("; ")}`);
      failures++;
      continue;
    }
    const object = doc.toJS();
    if (object === null || object === undefined) continue; // empty document (a template that rendered nothing)
    objects++;
    const { apiVersion, kind } = object;
    const name = `${kind}/${object.metadata?.name ?? "?"}`;
    if (typeof apiVersion !== "string" || typeof kind !== "string") {
      console.log(`INVALID ${source}: ${name}: apiVersion and kind are required`);
      failures++;
      continue;
    }
    const Model = await modelClass(apiVersion, kind);
    if (!Model) {
      console.log(`INVALID ${source}: ${name}: no schema for ${apiVersion} ${kind}`);
      failures++;
      continue;
    }
    try {
      if (!object.metadata?.name) throw new Error("metadata.name is required");
      new Model(object).validate();
      console.log(`valid ${apiVersion} ${name}`);
    } catch (e) {
      console.log(`INVALID ${source}: ${apiVersion} ${name}: ${e.message}`);
      failures++;
    }
  }
}
console.log(`${objects} objects, ${failures} invalid`);
if (objects === 0) {
  console.log("INVALID: no objects found");
  process.exit(1);
}
process.exit(failures > 0 ? 1 : 0);
