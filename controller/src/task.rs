//! Task handles that abort their task when dropped, so no task outlives its owner.

use std::future::Future;

use tokio::task::JoinHandle;

/// A spawned task, aborted when this handle is dropped.
#[derive(Debug)]
pub struct Task(JoinHandle<()>);

impl Task {
    /// Spawns `fut` on the current runtime.
    pub fn spawn(fut: impl Future<Output = ()> + Send + 'static) -> Self {
        Self(tokio::spawn(fut))
    }

    /// Waits for the task to end by itself.
    pub async fn join(mut self) {
        let _ = (&mut self.0).await;
    }

    /// Whether the task has ended.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn dropping_the_handle_aborts_the_task() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let t = Task::spawn(async move {
            let _keep = tx;
            std::future::pending::<()>().await;
        });
        assert!(!t.is_finished());
        drop(t);
        // The sender is dropped with the aborted task.
        tokio::time::timeout(Duration::from_secs(5), rx)
            .await
            .expect("aborted")
            .unwrap_err();
        let done = Task::spawn(async {});
        done.join().await;
    }
}
