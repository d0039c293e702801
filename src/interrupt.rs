//! Ctrl-C during training: the first SIGINT asks the loop to stop after the current step
//! and write a checkpoint it can resume from exactly; a second one exits at once (status
//! 130, the shell's convention for SIGINT). The request is read before each step: one that
//! arrives during the last epoch's validation and pictures lets the run finish normally.

use std::sync::atomic::{AtomicBool, Ordering};

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// Whether a stop has been asked for.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::Relaxed)
}

#[cfg(unix)]
extern "C" fn on_sigint(_: libc::c_int) {
    // Only async-signal-safe work here: an atomic swap and, the second time, _exit.
    if REQUESTED.swap(true, Ordering::SeqCst) {
        unsafe { libc::_exit(130) };
    }
}

/// Installs the SIGINT handler (Unix; elsewhere Ctrl-C keeps its default, immediate exit).
pub fn install() {
    #[cfg(unix)]
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
}

/// The error a training run returns when Ctrl-C stopped it (after writing its checkpoint).
#[derive(Debug)]
pub struct Interrupted {
    /// What was saved and how to go on.
    pub message: String,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Interrupted {}
