//! The queue in front of a model's slots: bounded in length and in waiting time, and the admission
//! `Engine::generate` waits for, so a caller decides its answer's status only once a slot runs the request.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::worker::Job;
use crate::engine::{EngineError, Event, EventStream};

pub(super) struct Queue {
    model: String,
    jobs: std_mpsc::SyncSender<Job>,
    /// Jobs sent and not yet taken by the model thread (the thread counts them down).
    pub queued: Arc<AtomicUsize>,
    depth: usize,
    /// The longest a request waits for a slot, whatever deadline it brings.
    wait: Duration,
}

impl Queue {
    /// A queue of `depth` jobs, each waiting at most `wait`; the receiver goes to the model thread.
    pub fn new(model: &str, depth: usize, wait: Duration) -> (Queue, std_mpsc::Receiver<Job>) {
        let (jobs, rx) = std_mpsc::sync_channel(depth.max(1));
        let queue = Queue { model: model.to_string(), jobs, queued: Arc::new(AtomicUsize::new(0)), depth, wait };
        (queue, rx)
    }

    /// Requests waiting for a slot.
    pub fn waiting(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// When a request asking for `deadline` is dropped if no slot took it: never later than the
    /// queue wait from now.
    pub fn deadline(&self, deadline: Option<Instant>) -> Instant {
        let latest = Instant::now() + self.wait;
        deadline.map_or(latest, |d| d.min(latest))
    }

    /// Queues `job` and returns its events once a slot took it (`admitted` fires). A job the model
    /// thread drops unrun is the reason it sent (its deadline passed: [`EngineError::Expired`]), and a
    /// full queue is [`EngineError::QueueFull`] at once.
    pub async fn submit(
        &self,
        job: Job,
        mut events: EventStream,
        admitted: oneshot::Receiver<()>,
    ) -> Result<EventStream, EngineError> {
        self.queued.fetch_add(1, Ordering::AcqRel);
        if let Err(err) = self.jobs.try_send(job) {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(match err {
                std_mpsc::TrySendError::Full(_) => {
                    metrics::counter!(crate::metrics::QUEUE_REJECTED, "model" => self.model.clone()).increment(1);
                    EngineError::QueueFull { model: self.model.clone(), depth: self.depth }
                }
                std_mpsc::TrySendError::Disconnected(_) => EngineError::Unavailable(self.model.clone()),
            });
        }
        if admitted.await.is_ok() {
            return Ok(events);
        }
        // The model thread sends why it dropped a job before it drops it (and its admission with it).
        Err(match events.try_recv() {
            Ok(Event::Expired { waited }) => EngineError::Expired { waited },
            Ok(Event::Failed(detail)) => EngineError::Internal(detail),
            _ => EngineError::Unavailable(self.model.clone()),
        })
    }
}
