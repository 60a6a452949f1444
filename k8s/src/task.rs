//! Tasks held by handles: dropping a [`TaskHandle`] aborts its task, so no task outlives its owner; and a
//! dedicated single-threaded runtime for latency-sensitive I/O.

use std::future::Future;

use tokio::task::JoinHandle;

/// A spawned task that is aborted when the handle is dropped.
#[derive(Debug)]
pub struct TaskHandle<T = ()> {
    name: &'static str,
    inner: Option<JoinHandle<T>>,
}

impl<T: Send + 'static> TaskHandle<T> {
    /// Spawns `fut` on the current runtime.
    pub fn spawn(name: &'static str, fut: impl Future<Output = T> + Send + 'static) -> Self {
        TaskHandle {
            name,
            inner: Some(tokio::spawn(fut)),
        }
    }
}

impl<T: Send + 'static> TaskHandle<T> {
    /// Spawns `fut` on the runtime of `handle`.
    pub fn spawn_on(
        handle: &tokio::runtime::Handle,
        name: &'static str,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Self {
        TaskHandle {
            name,
            inner: Some(handle.spawn(fut)),
        }
    }
}

/// A single-threaded runtime on its own OS thread, for latency-sensitive I/O that must not queue behind the
/// rest of the program. Dropping it stops the thread and every task on it.
#[derive(Debug)]
pub struct DedicatedRuntime {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl DedicatedRuntime {
    /// Starts the runtime on a thread named `name`.
    pub fn start(name: &str) -> std::io::Result<DedicatedRuntime> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new().name(name.to_owned()).spawn(move || {
            let _ = rt.block_on(stopped);
        })?;
        Ok(DedicatedRuntime {
            handle,
            stop: Some(stop),
        })
    }

    /// Its handle, for spawning.
    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }
}

impl Drop for DedicatedRuntime {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl<T> TaskHandle<T> {
    /// The task's name (for logs).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether the task has ended.
    pub fn is_finished(&self) -> bool {
        self.inner.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits for the task to end (`None` if it panicked or was aborted).
    pub async fn join(mut self) -> Option<T> {
        match self.inner.take() {
            Some(h) => h.await.ok(),
            None => None,
        }
    }
}

impl<T> Drop for TaskHandle<T> {
    fn drop(&mut self) {
        if let Some(h) = self.inner.take() {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dropping_the_handle_aborts_the_task() {
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let h = TaskHandle::spawn("waiter", async move {
            std::future::pending::<()>().await;
            drop(tx);
        });
        assert!(!h.is_finished());
        drop(h);
        // the task was aborted: its captured sender is dropped without sending
        assert!(rx.try_recv().is_err());
        assert!(
            tokio::time::timeout(std::time::Duration::from_secs(1), rx)
                .await
                .is_ok()
        );
        let done = TaskHandle::spawn("quick", async { 7 });
        assert_eq!(done.join().await, Some(7));
    }
}
