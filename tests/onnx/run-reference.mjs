// Runs an ONNX decoder export (onnxruntime-genai layout: input_ids, attention_mask, position_ids,
// past_key_values.N.key/value -> logits, present.N.key/value) in onnxruntime-node on the CPU and
// writes what the C++ test compares against, as safetensors:
//   input_ids I64 [2, T]            seeded prompt ids
//   logits F32 [2, T, V]            the prefill's logits at every position
//   greedy_ids I64 [2, N]           greedy continuation decoded with the KV cache, one token a step
//   step_logits F32 [2, N, V]       the logits of each decode step (the step that chose greedy_ids[:, n])
//   padded_mask I64 [2, T]          row 1 left-padded by 3 (0 = padding)
//   padded_positions I64 [2, T]     positions counting valid tokens only (padding reads 0)
//   padded_logits F32 [2, T, V]     the prefill with that mask
//
// Usage: node run-reference.mjs ONNXRUNTIME_NODE_DIR MODEL.onnx OUT.safetensors
// Exit 77 (CTest's skip) when onnxruntime-node cannot be loaded.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const [runtimeDir, modelPath, outPath] = process.argv.slice(2);
if (!outPath) {
    console.error("usage: node run-reference.mjs ONNXRUNTIME_NODE_DIR MODEL.onnx OUT.safetensors");
    process.exit(2);
}

let ort;
try {
    ort = createRequire(path.join(runtimeDir, "package.json"))("onnxruntime-node");
} catch (error) {
    console.error(`run-reference: cannot load onnxruntime-node from ${runtimeDir}: ${error.message}`);
    process.exit(77);
}

const PROMPT = 12;
const STEPS = 8;
const BATCH = 2;

// A small seeded generator (xorshift32), so the prompt is the same on every machine.
let state = 20241203;
function nextRandom() {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
}

const session = await ort.InferenceSession.create(modelPath, {
    executionProviders: ["cpu"],
    graphOptimizationLevel: "disabled", // run the graph as exported, no fused rewrites
    intraOpNumThreads: 1,
});
const keyInputs = session.inputNames.filter((name) => /^past_key_values\.\d+\.key$/.test(name));
const layers = keyInputs.length;
const pastShape = (() => {
    // [batch, kv heads, past, head dim] from the model's input metadata when available
    const meta = session.inputMetadata?.find?.((m) => m.name === keyInputs[0]);
    if (meta?.shape) return meta.shape;
    return null;
})();
const genai = JSON.parse(fs.readFileSync(path.join(path.dirname(modelPath), "genai_config.json"), "utf8")).model;
const kvHeads = pastShape?.[1] > 0 ? pastShape[1] : genai.decoder.num_key_value_heads;
const headDim = pastShape?.[3] > 0 ? pastShape[3] : genai.decoder.head_size;
const vocab = genai.vocab_size;

function int64(values, dims) {
    return new ort.Tensor("int64", BigInt64Array.from(values.map((v) => BigInt(v))), dims);
}

async function run(ids, mask, positions, past, length) {
    const feeds = {
        input_ids: int64(ids, [BATCH, length]),
        attention_mask: int64(mask, [BATCH, mask.length / BATCH]),
        position_ids: int64(positions, [BATCH, length]),
    };
    for (let layer = 0; layer < layers; ++layer) {
        feeds[`past_key_values.${layer}.key`] = past[layer].key;
        feeds[`past_key_values.${layer}.value`] = past[layer].value;
    }
    const output = await session.run(feeds);
    const present = [];
    for (let layer = 0; layer < layers; ++layer)
        present.push({ key: output[`present.${layer}.key`], value: output[`present.${layer}.value`] });
    return { logits: output.logits, present };
}

function emptyPast() {
    const past = [];
    for (let layer = 0; layer < layers; ++layer) {
        const empty = () => new ort.Tensor("float32", new Float32Array(0), [BATCH, kvHeads, 0, headDim]);
        past.push({ key: empty(), value: empty() });
    }
    return past;
}

const ids = [];
for (let i = 0; i < BATCH * PROMPT; ++i) ids.push(3 + (nextRandom() % (vocab - 3)));
const ones = new Array(BATCH * PROMPT).fill(1);
const positions = [];
for (let row = 0; row < BATCH; ++row) for (let t = 0; t < PROMPT; ++t) positions.push(t);

const prefill = await run(ids, ones, positions, emptyPast(), PROMPT);
const logits = prefill.logits.data; // [2, T, V]

// Greedy decoding with the cache: the token after position T-1, then one step per token.
const greedy = [];
const stepLogits = new Float32Array(BATCH * STEPS * vocab);
let past = prefill.present;
let last = [];
for (let row = 0; row < BATCH; ++row) last.push(argmax(logits, (row * PROMPT + PROMPT - 1) * vocab, vocab));
for (let step = 0; step < STEPS; ++step) {
    for (let row = 0; row < BATCH; ++row) greedy[row * STEPS + step] = last[row];
    if (step === STEPS - 1) break;
    const mask = new Array(BATCH * (PROMPT + step + 1)).fill(1);
    const decoded = await run(last, mask, [PROMPT + step, PROMPT + step], past, 1);
    past = decoded.present;
    for (let row = 0; row < BATCH; ++row) {
        stepLogits.set(decoded.logits.data.subarray(row * vocab, (row + 1) * vocab), (row * STEPS + step + 1) * vocab);
        last[row] = argmax(decoded.logits.data, row * vocab, vocab);
    }
}
// step_logits[:, 0] are the prefill's last-position logits (what chose greedy_ids[:, 0]).
for (let row = 0; row < BATCH; ++row)
    stepLogits.set(logits.subarray((row * PROMPT + PROMPT - 1) * vocab, (row * PROMPT + PROMPT) * vocab), row * STEPS * vocab);

// Left padding: row 1's first 3 slots are padding; positions count valid tokens.
const paddedMask = ones.slice();
const paddedPositions = positions.slice();
for (let t = 0; t < PROMPT; ++t) {
    paddedMask[PROMPT + t] = t < 3 ? 0 : 1;
    paddedPositions[PROMPT + t] = t < 3 ? 0 : t - 3;
}
const padded = await run(ids, paddedMask, paddedPositions, emptyPast(), PROMPT);

function argmax(data, offset, count) {
    let best = 0;
    for (let i = 1; i < count; ++i) if (data[offset + i] > data[offset + best]) best = i;
    return best;
}

function writeSafetensors(file, tensors) {
    const header = { __metadata__: { producer: `onnxruntime-node ${ort.env?.versions?.common ?? ""}`.trim() } };
    let offset = 0;
    const blobs = [];
    for (const [name, { dtype, shape, data }] of Object.entries(tensors).sort(([a], [b]) => (a < b ? -1 : 1))) {
        const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
        header[name] = { dtype, shape, data_offsets: [offset, offset + bytes.length] };
        blobs.push(bytes);
        offset += bytes.length;
    }
    let text = Buffer.from(JSON.stringify(header));
    text = Buffer.concat([text, Buffer.alloc((8 - (text.length % 8)) % 8, 0x20)]);
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(text.length));
    fs.writeFileSync(file, Buffer.concat([length, text, ...blobs]));
}

const i64 = (values) => BigInt64Array.from(values.map((v) => BigInt(v)));
writeSafetensors(outPath, {
    input_ids: { dtype: "I64", shape: [BATCH, PROMPT], data: i64(ids) },
    logits: { dtype: "F32", shape: [BATCH, PROMPT, vocab], data: Float32Array.from(logits) },
    greedy_ids: { dtype: "I64", shape: [BATCH, STEPS], data: i64(greedy) },
    step_logits: { dtype: "F32", shape: [BATCH, STEPS, vocab], data: stepLogits },
    padded_mask: { dtype: "I64", shape: [BATCH, PROMPT], data: i64(paddedMask) },
    padded_positions: { dtype: "I64", shape: [BATCH, PROMPT], data: i64(paddedPositions) },
    padded_logits: { dtype: "F32", shape: [BATCH, PROMPT, vocab], data: Float32Array.from(padded.logits.data) },
});
console.log(`run-reference: ${outPath}: ${layers} layers, vocab ${vocab}, greedy ${JSON.stringify(greedy)}`);
