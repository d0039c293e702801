//! `shaderprop explain`: the compiled training step of a model, in the four parts a reader
//! can follow from a loss to the GPU — the forward graph, the backward graph (each gradient
//! node with the rule that wrote it), the dispatch list in execution order, and the memory
//! plan. `--dot` writes the graph for Graphviz.
//!
//! Lines are columns separated by two or more spaces, so a test (or `awk -F'  +'`) can
//! parse them.

use crate::graph::plan::{Plan, Storage};
use crate::graph::{DType, Graph, Op};
use std::fmt::Write;

fn shape(g: &Graph, id: usize) -> String {
    let n = &g.nodes[id];
    let t = match n.dtype {
        DType::F32 => "",
        DType::U32 => " u32",
        DType::U8 => " u8",
    };
    if n.shape.is_empty() {
        "-".into()
    } else {
        format!("{:?}{t}", n.shape)
    }
}

fn inputs(g: &Graph, id: usize) -> String {
    let v: Vec<&str> = g.nodes[id]
        .inputs
        .iter()
        .map(|&i| g.nodes[i].name.as_str())
        .collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(", ")
    }
}

fn bytes(b: u64) -> String {
    if b >= 1 << 20 {
        format!("{:.2} MiB", b as f64 / 1048576.0)
    } else if b >= 1 << 10 {
        format!("{:.1} KiB", b as f64 / 1024.0)
    } else {
        format!("{b} B")
    }
}

/// The four-part text of a compiled graph.
pub fn explain(title: &str, g: &Graph, plan: &Plan) -> String {
    let mut out = String::new();
    let bw = g.backward_from.unwrap_or(g.nodes.len());
    let _ = writeln!(out, "# {title}\n");
    let _ = writeln!(out, "## 1. forward graph\n");
    let _ = writeln!(
        out,
        "{:<4}  {:<24}  {:<22}  {:<36}  shape",
        "#", "node", "op", "inputs"
    );
    for (i, n) in g.nodes.iter().enumerate().take(bw) {
        if matches!(n.op, Op::State) {
            continue;
        }
        let _ = writeln!(
            out,
            "{i:<4}  {:<24}  {:<22}  {:<36}  {}",
            n.name,
            n.op.name(),
            inputs(g, i),
            shape(g, i)
        );
    }
    let _ = writeln!(
        out,
        "\n## 2. backward graph (written by autodiff), then the optimizer\n"
    );
    let _ = writeln!(
        out,
        "{:<4}  {:<24}  {:<22}  {:<36}  {:<14}  rule",
        "#", "node", "op", "inputs", "shape"
    );
    for (i, n) in g.nodes.iter().enumerate().skip(bw) {
        if matches!(n.op, Op::State) {
            continue;
        }
        let _ = writeln!(
            out,
            "{i:<4}  {:<24}  {:<22}  {:<36}  {:<14}  ← {}",
            n.name,
            n.op.name(),
            inputs(g, i),
            shape(g, i),
            if n.note.is_empty() { "-" } else { &n.note }
        );
    }
    let _ = writeln!(
        out,
        "\n## 3. dispatches, in execution order (one submit per step; one compute pass, split \
         only where a texture variant's input copies run)\n"
    );
    let _ = writeln!(
        out,
        "{:<4}  {:<26}  {:<18}  {:<24}  {:<14}  {:>12}  {:>12}",
        "#", "node", "file", "entry point", "workgroups", "bytes r+w", "FLOPs"
    );
    let (mut total_b, mut total_f) = (0u64, 0u64);
    for (k, d) in plan.dispatches.iter().enumerate() {
        total_b += d.call.bytes;
        total_f += d.call.flops;
        for c in &d.copies {
            let _ = writeln!(out, "      copy {} (between passes)", c.describe());
        }
        for r in &d.shared {
            let _ = writeln!(out, "      reuses the copy of {r}");
        }
        let _ = writeln!(
            out,
            "{k:<4}  {:<26}  {:<18}  {:<24}  {:<14}  {:>12}  {:>12}",
            g.nodes[d.node].name,
            d.call.shader.file(),
            d.call.entry,
            format!("{:?}", d.workgroups),
            d.call.bytes,
            d.call.flops
        );
    }
    let _ = writeln!(
        out,
        "total  {} dispatches  {} read+written  {:.1} MFLOP",
        plan.dispatches.len(),
        bytes(total_b),
        total_f as f64 / 1e6
    );
    let _ = writeln!(out, "\n## 4. memory plan\n");
    let _ = writeln!(
        out,
        "{:<6}  {:>12}  tensors sharing it (node: first..last dispatch index)",
        "slot", "bytes"
    );
    let node_dispatch: std::collections::HashMap<usize, usize> = plan
        .dispatches
        .iter()
        .enumerate()
        .map(|(k, d)| (d.node, k))
        .collect();
    for (s, &b) in plan.slot_bytes.iter().enumerate() {
        let users: Vec<String> = plan
            .lifetimes
            .iter()
            .filter(|l| l.slot == s)
            .map(|l| {
                let first = node_dispatch.get(&l.first).copied().unwrap_or(0);
                let last = (l.first..=l.last)
                    .rev()
                    .find_map(|i| node_dispatch.get(&i).copied())
                    .unwrap_or(first);
                format!("{}: {first}..{last}", g.nodes[l.node].name)
            })
            .collect();
        let _ = writeln!(out, "{s:<6}  {b:>12}  {}", users.join(", "));
    }
    let persistent: Vec<String> = g
        .nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| matches!(plan.storage[*i], Storage::Persistent(_)))
        .map(|(_, n)| format!("{} ({})", n.name, bytes(n.bytes())))
        .collect();
    let _ = writeln!(
        out,
        "persistent  {}  {}",
        plan.persistent_bytes,
        persistent.join(", ")
    );
    let _ = writeln!(out, "peak bytes  {}", plan.peak_bytes);
    let _ = writeln!(out, "peak bytes without reuse  {}", plan.peak_without_reuse);
    out
}

/// The graph in Graphviz dot: forward nodes in blue, backward in red, updates in green.
pub fn dot(g: &Graph) -> String {
    let bw = g.backward_from.unwrap_or(g.nodes.len());
    let mut out = String::from(
        "digraph shaderprop {\n  rankdir=TB;\n  node [shape=box, fontname=monospace];\n",
    );
    for (i, n) in g.nodes.iter().enumerate() {
        let color = match n.op {
            Op::Update(_) | Op::Accumulate { .. } => "darkgreen",
            Op::Input | Op::Param(_) | Op::State => "gray40",
            _ if i >= bw => "firebrick",
            _ => "steelblue",
        };
        let _ = writeln!(
            out,
            "  n{i} [label=\"{}\\n{} {}\", color={color}];",
            n.name,
            n.op.name(),
            shape(g, i).replace('"', "")
        );
        for &j in &n.inputs {
            let _ = writeln!(out, "  n{j} -> n{i};");
        }
    }
    out.push_str("}\n");
    out
}
