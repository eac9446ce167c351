//! Graceful shutdown: one [`Shutdown`] handle per task, all woken by one stop signal.
//!
//! The binary creates a [`ShutdownTrigger`] and fires it on Ctrl-C or SIGTERM; tests fire it
//! themselves. Tasks `select!` on [`Shutdown::recv`] next to their work, then flush and return.

use tokio::sync::watch;

/// Fires the stop signal.
#[derive(Debug, Clone)]
pub struct ShutdownTrigger(watch::Sender<bool>);

/// Listens for the stop signal. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A new trigger and its first listener.
pub fn channel() -> (ShutdownTrigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (ShutdownTrigger(tx), Shutdown(rx))
}

impl ShutdownTrigger {
    pub fn fire(&self) {
        self.0.send_replace(true);
    }

    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }
}

impl Shutdown {
    /// Completes once the stop signal fired (at once if it already did).
    pub async fn recv(&mut self) {
        // An error means every trigger was dropped: nobody can stop us any more, so that
        // counts as a stop too rather than hanging forever.
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }

    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }
}

/// A shutdown that fires on the first Ctrl-C or SIGTERM. For binaries.
pub fn on_signals() -> Shutdown {
    let (trigger, shutdown) = channel();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stop requested, finishing in-flight work");
        trigger.fire();
        // A second signal means "now": do not wait for a flush that may hang.
        wait_for_signal().await;
        tracing::warn!("second stop signal, exiting immediately");
        std::process::exit(130);
    });
    shutdown
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_listener_sees_the_stop() {
        let (trigger, mut a) = channel();
        let mut b = trigger.subscribe();
        assert!(!a.is_stopped());
        trigger.fire();
        a.recv().await;
        b.recv().await;
        assert!(b.is_stopped());
    }
}
