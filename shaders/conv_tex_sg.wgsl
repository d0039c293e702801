// conv_tex.wgsl's forward and input gradient (`subgroup` variant) with each input channel's
// taps fetched once per subgroup instead of once per lane. Kernels up to 3×3.
//
// Every lane of a workgroup reads the same weights (the channel block is the workgroup's z
// index; the channel and the tap are loop counters), yet on lavapipe each lane's fetch is a
// gather of its own: a 3×3 layer fetches 9 taps per input channel per lane. Here, at the top
// of each channel (`stage_fwd`, `stage_bwd`), lane l < 8 fetches tap (l / 3, l mod 3), every
// lane also fetches tap (2, 2), and subgroupBroadcast hands lanes 0..7's to all (a register
// move on lavapipe, where a subgroup is one SIMD register): 2 fetches a lane instead of 9.
// `tap_fwd` / `tap_bwd` then pick tap (ky, kx) out of the nine with selects. Taps a smaller
// kernel lacks are fetched at a clamped address and never picked.
//
// A broadcast needs its source lane running, so lanes past the batch stay to the end
// (`ALL_LANES`: conv_direct.wgsl lets them compute the last sample again and store nothing),
// and the staging sits where every lane of a subgroup runs: in the channel loop, before the
// rows that lanes at an image's edge skip. Needs subgroups of 8 or more (src/ops/conv.rs
// checks the adapter). The weight gradient reads no weights: the `subgroup` variant runs
// conv_tex_each.wgsl's.
//
// On lavapipe (session 14; three tunings of the conv AE at batch 128, `subgroup`'s time over
// `texture`'s): input gradients 0.60–0.97 (the 7×7 layer's 0.60–0.72), forwards 0.55–1.01
// (the 14×14 layer's a tie), and the one-output-channel forward 1.20–1.24, where the tuner
// keeps `texture`. (One tuning put the 8×8 layer's two at 1.5–1.7, the other two at
// 0.82–0.93: single timings of 1–2 ms kernels stray on this VM.)

const ALL_LANES: bool = true;

var<private> lane: u32;
// Tap (ky, kx) of the current channel: t{ky}{kx}.
var<private> t00: vec4<f32>;
var<private> t01: vec4<f32>;
var<private> t02: vec4<f32>;
var<private> t10: vec4<f32>;
var<private> t11: vec4<f32>;
var<private> t12: vec4<f32>;
var<private> t20: vec4<f32>;
var<private> t21: vec4<f32>;
var<private> t22: vec4<f32>;

// This lane's tap (row, column) of the 3×3 grid, clamped to the kernel.
fn lane_tap() -> vec2<u32> {
    let l = min(lane, 8u);
    return vec2<u32>(min(l / 3u, KH - 1u), min(l % 3u, KW - 1u));
}

// Lanes 0..7's fetch `mine` and everyone's `last` (tap (2, 2)) become t00..t22.
fn share_taps(mine: vec4<f32>, last: vec4<f32>) {
    t00 = subgroupBroadcast(mine, 0u);
    t01 = subgroupBroadcast(mine, 1u);
    t02 = subgroupBroadcast(mine, 2u);
    t10 = subgroupBroadcast(mine, 3u);
    t11 = subgroupBroadcast(mine, 4u);
    t12 = subgroupBroadcast(mine, 5u);
    t20 = subgroupBroadcast(mine, 6u);
    t21 = subgroupBroadcast(mine, 7u);
    t22 = last;
}

fn pick_tap(ky: u32, kx: u32) -> vec4<f32> {
    let r0 = select(select(t00, t01, kx == 1u), t02, kx == 2u);
    let r1 = select(select(t10, t11, kx == 1u), t12, kx == 2u);
    let r2 = select(select(t20, t21, kx == 1u), t22, kx == 2u);
    return select(select(r0, r1, ky == 1u), r2, ky == 2u);
}

fn stage_fwd(ci: u32, co0: u32) {
    let tap = lane_tap();
    share_taps(weights4_fwd(tap.x, tap.y, ci, co0), weights4_fwd(KH - 1u, KW - 1u, ci, co0));
}

fn stage_bwd(ci0: u32, co: u32) {
    let tap = lane_tap();
    share_taps(weights4(tap.x, tap.y, ci0, co, 1u, 0u), weights4(KH - 1u, KW - 1u, ci0, co, 1u, 0u));
}

fn tap_fwd(ky: u32, kx: u32, ci: u32, co0: u32) -> vec4<f32> {
    return pick_tap(ky, kx);
}

fn tap_bwd(ky: u32, kx: u32, ci0: u32, co: u32) -> vec4<f32> {
    return pick_tap(ky, kx);
}

@compute @workgroup_size(64)
fn conv2d_forward_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) sl: u32) {
    lane = sl;
    forward_body(gid, nwg, wid);
}

@compute @workgroup_size(64)
fn conv2d_backward_input_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) sl: u32) {
    lane = sl;
    backward_input_body(gid, nwg, wid);
}
