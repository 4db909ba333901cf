//! Delayed work on one thread: starts and stops "take" `--start-delay`, as
//! the hardware would. One thread for every pending transition, however many
//! START/STOP cycles come in, rather than a thread each.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

type Job = Box<dyn FnOnce() + Send>;

/// Runs jobs after their delay, in deadline order, on one thread that ends
/// when the timer is dropped (jobs not yet due are dropped with it).
pub struct Timer {
    jobs: mpsc::Sender<(Instant, Job)>,
}

impl Timer {
    pub fn start() -> std::io::Result<Self> {
        let (jobs, incoming) = mpsc::channel::<(Instant, Job)>();
        std::thread::Builder::new()
            .name("timer".into())
            .spawn(move || {
                // Few jobs wait at once (one transition at a time), so a list will do.
                let mut waiting: Vec<(Instant, Job)> = Vec::new();
                loop {
                    let next = waiting.iter().map(|(due, _)| *due).min();
                    let wait = next.map_or(Duration::from_secs(3600), |due| {
                        due.saturating_duration_since(Instant::now())
                    });
                    match incoming.recv_timeout(wait) {
                        Ok(job) => waiting.push(job),
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                    let now = Instant::now();
                    while let Some(at) = waiting.iter().position(|(due, _)| *due <= now) {
                        (waiting.swap_remove(at).1)();
                    }
                }
            })?;
        Ok(Self { jobs })
    }

    /// Runs `job` on the timer's thread once `delay` has passed.
    pub fn after(&self, delay: Duration, job: impl FnOnce() + Send + 'static) {
        let _ = self.jobs.send((Instant::now() + delay, Box::new(job)));
    }
}
