//! A CPU device's compute worker threads, one to a core.
//!
//! Mesa's lavapipe (and llvmpipe under GL) runs each compute dispatch on a pool of worker
//! threads, one per core, which it wakes for the dispatch and joins at its end: a conv AE
//! training step wakes them about 80 times. Linux's scheduler tends to place a woken thread
//! on or beside the core of the thread that woke it, and on a 2-core machine the two workers
//! then share one core for stretches of tens of steps while the other core idles. Measured on
//! the project's 2-core VM (BENCHMARKS.md, session 16): conv AE steps took 90–120 ms in those
//! stretches and 60–70 ms outside them, and `perf` saw each worker busy 75 % of the time;
//! with the workers pinned one to a core, every step took 60–72 ms.
//!
//! Which threads are the workers is found by what they do, not by their names (Mesa leaves
//! them unnamed, and its thread layout changes between versions): of the threads the driver
//! started while the context was created (adapters listed, device requested), those that run
//! a short probe dispatch, timed by their own CPU clocks, are pinned round-robin to the CPUs
//! this process may use. Linux only; elsewhere, on one CPU, with one worker
//! (`LP_NUM_THREADS=1`), or with `SHADERPROP_PIN_WORKERS=0`, nothing is pinned.

use super::Gpu;

/// The threads of this process (Linux thread ids).
pub fn threads() -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut t: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    t.sort_unstable();
    t
}

/// The CPUs thread `tid` may run on (0: the calling thread).
#[cfg(target_os = "linux")]
pub fn allowed_cpus(tid: i32) -> Vec<usize> {
    // SAFETY: cpu_set_t is plain bits; sched_getaffinity writes at most its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    if unsafe { libc::sched_getaffinity(tid, size, &mut set) } != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

#[cfg(not(target_os = "linux"))]
pub fn allowed_cpus(_tid: i32) -> Vec<usize> {
    Vec::new()
}

/// Nanoseconds thread `tid` of this process has run. Its clock id is the kernel's per-thread
/// CPU clock, MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED) in linux/posix-timers.h: the one
/// glibc's pthread_getcpuclockid builds.
#[cfg(target_os = "linux")]
pub fn cpu_time_ns(tid: i32) -> Option<u64> {
    let clock: libc::clockid_t = ((!tid) << 3) | 6;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec for the call to fill.
    (unsafe { libc::clock_gettime(clock, &mut ts) } == 0)
        .then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Restricts thread `tid` to `cpu`.
#[cfg(target_os = "linux")]
fn pin(tid: i32, cpu: usize) -> bool {
    // SAFETY: as in allowed_cpus; sched_setaffinity reads the set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    unsafe { libc::CPU_SET(cpu, &mut set) };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    unsafe { libc::sched_setaffinity(tid, size, &set) == 0 }
}

/// Finds the driver's compute workers among the threads started since `before` (by a probe
/// dispatch) and pins them round-robin to this process's CPUs: (thread id, CPU) of each one
/// pinned. Empty where there is nothing to do (see the module's notes).
#[cfg(target_os = "linux")]
pub fn spread(gpu: &Gpu, before: &[i32]) -> Vec<(i32, usize)> {
    if std::env::var("SHADERPROP_PIN_WORKERS").is_ok_and(|v| v == "0") {
        return Vec::new();
    }
    let cpus = allowed_cpus(0);
    if cpus.len() < 2 {
        return Vec::new();
    }
    // SAFETY: gettid has no preconditions.
    let me = unsafe { libc::gettid() };
    let started: Vec<i32> = threads()
        .into_iter()
        .filter(|t| *t != me && before.binary_search(t).is_err())
        .collect();
    // The probe's pipeline is built, and run on one workgroup, before the clocks are read:
    // with Mesa's shader cache cold, compiling it kept a third thread (the cache's writer or
    // the driver's queue) busy enough to pass for a worker in 2 of 3 runs.
    let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let workloads = ProbeWorkloads::new(gpu, cpus.len());
    let warmed = match &workloads {
        Ok(w) => w.run(gpu, &w.warm_up).is_ok(),
        Err(_) => false,
    };
    if !warmed || pollster::block_on(scope.pop()).is_some() {
        return Vec::new();
    }
    let Ok(workloads) = workloads else {
        return Vec::new();
    };
    let t0: Vec<Option<u64>> = started.iter().map(|&t| cpu_time_ns(t)).collect();
    // The probe keeps every worker busy for milliseconds, in about equal shares; a thread
    // that ran under half the busiest one's time (the queue thread handing the dispatch
    // over, ~10 % of it on lavapipe) is not one. A worker woken late can miss its share of
    // one probe, so where fewer workers than CPUs show, the probe runs again (three times at
    // most) and the times add up.
    let mut ran: Vec<(i32, u64)> = Vec::new();
    for _ in 0..3 {
        // A probe the device refuses (an error, or a validation error caught here rather
        // than left to wgpu's handler, which panics) pins nothing.
        let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let done = workloads.run(gpu, &workloads.probe);
        if done.is_err() || pollster::block_on(scope.pop()).is_some() {
            return Vec::new();
        }
        ran = started
            .iter()
            .zip(&t0)
            .filter_map(|(&t, &t0)| Some((t, cpu_time_ns(t)?.saturating_sub(t0?))))
            .collect();
        let most = ran.iter().map(|r| r.1).max().unwrap_or(0);
        ran.retain(|r| r.1 >= most / 2 && most >= 200_000);
        if ran.len() >= cpus.len() {
            break;
        }
    }
    // One worker (LP_NUM_THREADS=1) has no other to share a core with: left free.
    if ran.len() < 2 {
        return Vec::new();
    }
    ran.iter()
        .enumerate()
        .filter_map(|(i, &(t, _))| {
            let cpu = cpus[i % cpus.len()];
            pin(t, cpu).then_some((t, cpu))
        })
        .collect()
}

#[cfg(not(target_os = "linux"))]
pub fn cpu_time_ns(_tid: i32) -> Option<u64> {
    None
}

#[cfg(not(target_os = "linux"))]
pub fn spread(_gpu: &Gpu, _before: &[i32]) -> Vec<(i32, usize)> {
    Vec::new()
}

/// The probe: a dispatch that keeps each of `cpus` workers busy for a few milliseconds (32
/// workgroups of `fma_rate`, shaders/bench.wgsl, a CPU, 2048 steps each, run twice: ~7 ms a
/// worker on the project's 2-core VM), and a one-workgroup warm-up of the same pipeline.
#[cfg(target_os = "linux")]
struct ProbeWorkloads {
    probe: crate::bench::FmaWorkload,
    warm_up: crate::bench::FmaWorkload,
}

#[cfg(target_os = "linux")]
impl ProbeWorkloads {
    fn new(gpu: &Gpu, cpus: usize) -> Result<Self, super::GpuError> {
        let threads = (32 * 256 * cpus).min(1 << 20) as u32;
        Ok(ProbeWorkloads {
            probe: crate::bench::FmaWorkload::new(gpu, "worker probe", threads, 2048)?,
            warm_up: crate::bench::FmaWorkload::new(gpu, "worker probe warm-up", 256, 2048)?,
        })
    }

    /// Runs `fma` twice and waits for it.
    fn run(&self, gpu: &Gpu, fma: &crate::bench::FmaWorkload) -> Result<(), super::GpuError> {
        let mut enc = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("worker probe"),
            });
        fma.record(&mut enc);
        fma.record(&mut enc);
        gpu.queue.submit([enc.finish()]);
        gpu.wait()
    }
}
