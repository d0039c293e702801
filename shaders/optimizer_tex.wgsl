// optimizer_tex: adam_update and sgd_momentum_update of optimizer.wgsl (prepended: same
// formulas, structs) reading every operand from rgba32float texture copies (tex_fns.wgsl)
// and writing the updated tensors back four values at a time (one vec4 store each). n a
// multiple of 4.
//
// In place still: the plan copies θ, g and the moments into textures just before the
// dispatch (θ usually from the copy the forward matmul already made this step), and the
// kernel writes the storage buffers those copies came from. On lavapipe that reads ~4× fewer
// times than optimizer.wgsl; on a GPU the copies are extra traffic and the tuner keeps
// optimizer.wgsl.

@group(0) @binding(0) var<storage, read_write> param4: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> m4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> v4: array<vec4<f32>>;
@group(0) @binding(3) var grad_tex: Tex4;
@group(0) @binding(4) var param_tex: Tex4;
@group(0) @binding(5) var m_tex: Tex4;
@group(0) @binding(6) var v_tex: Tex4;
@group(0) @binding(7) var<uniform> apt: AdamParams;
@group(0) @binding(8) var<uniform> step_t: Step;

@compute @workgroup_size(64)
fn adam_update_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if i >= apt.n / 4u {
        return;
    }
    let g = texel(grad_tex, i);
    let m_new = adam_m4(apt, texel(m_tex, i), g);
    let v_new = adam_v4(apt, texel(v_tex, i), g);
    m4[i] = m_new;
    v4[i] = v_new;
    param4[i] = adam_param4(apt, step_t.step, texel(param_tex, i), m_new, v_new);
}

@group(0) @binding(1) var<storage, read_write> velocity4: array<vec4<f32>>;
@group(0) @binding(2) var sgd_grad_tex: Tex4;
@group(0) @binding(3) var sgd_param_tex: Tex4;
@group(0) @binding(4) var velocity_tex: Tex4;
@group(0) @binding(5) var<uniform> spt: SgdParams;

@compute @workgroup_size(64)
fn sgd_momentum_update_tex(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if i >= spt.n / 4u {
        return;
    }
    let u = sgd_velocity4(spt, texel(velocity_tex, i), texel(sgd_grad_tex, i));
    velocity4[i] = u;
    param4[i] = sgd_param4(spt, texel(sgd_param_tex, i), u);
}
