//! The running forwarder: one loop that connects, consumes a batch, writes it, handles
//! acknowledgements and deadlines, and commits what the window says is finished.
//!
//! Everything mutable lives in [`Pipeline`]; the consumer stays outside it because the loop
//! holds its `recv` future while the other branches of the `select!` need the pipeline.

use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt as _;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use service::backoff::Backoff;
use service::bad_input::InputKind as _;
use service::kafka::AuthFailed;
use service::metrics::{Counter, Gauge, Registry};
use service::shutdown::Shutdown;
use tokio::sync::mpsc;

use super::connection::{Endpoint, FromPeer, Link, LinkError};
use super::consumer::{Context, Shared};
use super::dead_letter::{DeadLetters, Origin};
use super::replay::Replay;
use super::window::{Seq, Window};
use super::{ForwardError, ForwardSettings, Summary};
use crate::line::{self, Skipped};

/// The forwarder's counters and gauges (`sink_*`).
struct Metrics {
    consumed: Counter,
    forwarded: Counter,
    acknowledged: Counter,
    retries: Counter,
    reconnects: Counter,
    connect_failures: Counter,
    filtered: Counter,
    commits: Counter,
    unacknowledged: Counter,
    in_flight: Gauge,
    connected: Gauge,
}

impl Metrics {
    fn new(r: &Registry) -> Self {
        Self {
            consumed: r.counter("consumed_total", "Records read from the signals topic."),
            forwarded: r.counter(
                "forwarded_total",
                "Lines written to the endpoint (re-sent ones included).",
            ),
            acknowledged: r.counter(
                "acknowledged_total",
                "Lines acknowledged by the receiver (ack mode).",
            ),
            retries: r.counter(
                "retries_total",
                "Lines sent again on a new connection after a failure.",
            ),
            reconnects: r.counter(
                "reconnects_total",
                "Connections opened after the first one.",
            ),
            connect_failures: r
                .counter("connect_failures_total", "Connection attempts that failed."),
            filtered: r.counter(
                "filtered_total",
                "Signals not forwarded because of --symbol/--action/--strategy.",
            ),
            commits: r.counter("commits_total", "Offset commits issued."),
            unacknowledged: r.counter(
                "unacknowledged_total",
                "Lines given up after --ack-tries acknowledgement timeouts (dead-lettered, or the forwarder stopped).",
            ),
            in_flight: r.gauge(
                "in_flight",
                "Records consumed but not yet committable (the window).",
            ),
            connected: r.gauge("connected", "1 while connected to the endpoint."),
        }
    }
}

/// A line given up after `ack_tries` without a dead-letter topic: the forwarder stops.
#[derive(Debug, thiserror::Error)]
#[error("signal {id} ({topic}/{partition}@{offset}) not acknowledged after {tries} tries and no --dead-letter-topic: stopping (its offset and the later ones of its partition stay uncommitted)")]
pub struct GivenUp {
    pub id: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub tries: u32,
}

/// Lines consumed in one go, written with one write.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    seqs: Vec<(Seq, Arc<[u8]>)>,
}

/// The running forwarder's mutable state (everything but the consumer, which the loop borrows
/// for its `recv` future).
pub(super) struct Pipeline {
    settings: ForwardSettings,
    window: Window,
    replay: Replay,
    link: Option<Link>,
    ever_connected: bool,
    /// Whether the current connection acknowledged anything: an ack timeout then blames the
    /// line, not a stalled receiver.
    acked_on_link: bool,
    backoff: Backoff,
    endpoint: Endpoint,
    shared: Arc<Shared>,
    last_commit: Instant,
    m: Metrics,
    skipped: Skipped,
    dead_letters: Option<DeadLetters>,
    /// Set when Kafka refused the consumer's login or TLS: the loop then stops.
    auth_failed: Option<AuthFailed>,
}

impl Pipeline {
    pub(super) fn new(
        settings: ForwardSettings,
        endpoint: Endpoint,
        shared: Arc<Shared>,
        registry: &Registry,
        dead_letters: Option<DeadLetters>,
    ) -> Self {
        Self {
            window: Window::new(
                settings.max_in_flight,
                settings.max_in_flight_bytes,
                settings.ack,
            ),
            replay: Replay::new(if settings.ack {
                0
            } else {
                settings.replay_bytes
            }),
            link: None,
            ever_connected: false,
            acked_on_link: false,
            backoff: Backoff::new(settings.backoff_initial, settings.backoff_max)
                .with_healthy_after(settings.healthy_after),
            last_commit: Instant::now(),
            m: Metrics::new(registry),
            skipped: line::skipped(
                registry,
                "Records skipped because they are not signals, by kind.",
            ),
            dead_letters,
            auth_failed: None,
            endpoint,
            shared,
            settings,
        }
    }

    /// Runs until `shutdown`, then finishes what is in flight (bounded) and commits. Stops by
    /// itself (after the same finishing and commit) when a line is given up without a
    /// dead-letter topic.
    pub(super) async fn run(
        &mut self,
        consumer: &StreamConsumer<Context>,
        mut shutdown: Shutdown,
        mut dead_letter_done: Option<mpsc::UnboundedReceiver<Seq>>,
    ) -> Result<(), ForwardError> {
        let p = self;
        let mut stopped = Ok(());
        let commit_every = p.settings.commit_interval;
        let ack_timeout = p.settings.ack_timeout;
        'run: loop {
            if p.link.is_none() && !p.connect(&mut shutdown).await {
                break 'run;
            }
            let ack_deadline = p
                .settings
                .ack
                .then(|| p.window.oldest_unacknowledged())
                .flatten()
                .map(|t| t + ack_timeout);
            let commit_deadline = p.last_commit + commit_every;
            let has_room = p.window.has_room();
            let link = p.link.as_mut().expect("connected above");
            tokio::select! {
                biased;
                _ = shutdown.recv() => break 'run,
                event = link.from_peer.recv() => p.on_peer(event),
                Some(seq) = recv_opt(&mut dead_letter_done) => p.window.finish(seq),
                message = consumer.recv(), if has_room => {
                    let mut batch = Batch::default();
                    p.on_message(message, &mut batch);
                    // Records already fetched join the batch; filtered ones count too, so a
                    // flood of them cannot keep this turn from ending.
                    let mut records = 1;
                    while records < p.settings.batch_lines && p.window.has_room() {
                        records += 1;
                        match consumer.recv().now_or_never() {
                            Some(message) => p.on_message(message, &mut batch),
                            None => break,
                        }
                    }
                    p.write(batch).await;
                }
                _ = sleep_until_opt(ack_deadline) => {}
                _ = tokio::time::sleep_until(commit_deadline.into()) => {}
            }
            // Checked after every turn, so a busy consumer cannot starve the deadline.
            if p.settings.ack
                && p.link.is_some()
                && p.window
                    .oldest_unacknowledged()
                    .is_some_and(|t| t.elapsed() >= ack_timeout)
            {
                if let Err(given_up) = p.give_up_unacknowledged() {
                    stopped = Err(given_up.into());
                    break 'run;
                }
                p.drop_link(&LinkError::AckTimeout(ack_timeout));
            }
            if let Some(failed) = p.auth_failed.take() {
                stopped = Err(ForwardError::KafkaAuth(failed));
                break 'run;
            }
            p.apply_reassignment();
            p.m.in_flight.set(p.window.len() as i64);
            p.publish_finished();
            if p.last_commit.elapsed() >= commit_every {
                p.commit(consumer, CommitMode::Async);
            }
        }
        p.finish_in_flight(&mut dead_letter_done).await;
        p.publish_finished();
        p.commit(consumer, CommitMode::Sync);
        p.m.in_flight.set(p.window.len() as i64);
        stopped
    }

    /// The counts so far.
    pub(super) fn summary(&self, registry: &Registry) -> Summary {
        Summary {
            consumed: self.m.consumed.get(),
            forwarded: self.m.forwarded.get(),
            acknowledged: self.m.acknowledged.get(),
            retries: self.m.retries.get(),
            reconnects: self.m.reconnects.get(),
            filtered: self.m.filtered.get(),
            skipped: registry.value("skipped_total") as u64,
        }
    }

    /// Records not committable yet.
    pub(super) fn in_flight(&self) -> usize {
        self.window.len()
    }

    /// Connects (retrying with backoff) and sends everything unfinished; false on shutdown.
    ///
    /// Every attempt but the very first waits for the backoff: also the first one after a
    /// connection broke, so a peer that accepts and then drops gets the growing delays, not a
    /// tight loop. The delays start over only after a connection stayed up for the healthy
    /// period (`healthy_after`).
    async fn connect(&mut self, shutdown: &mut Shutdown) -> bool {
        let mut first = !self.ever_connected;
        loop {
            if !std::mem::take(&mut first) {
                let delay = self.backoff.next_delay();
                tokio::select! {
                    _ = shutdown.recv() => return false,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            let attempt = tokio::select! {
                _ = shutdown.recv() => return false,
                attempt = self.endpoint.connect() => attempt,
            };
            match attempt {
                Ok(link) => {
                    if self.ever_connected {
                        self.m.reconnects.inc();
                    }
                    self.ever_connected = true;
                    self.link = Some(link);
                    self.acked_on_link = false;
                    self.m.connected.set(1);
                    match self.resend().await {
                        Ok(resent) => {
                            tracing::info!(endpoint = %self.endpoint.addr, resent, "connected");
                            self.backoff.up();
                            return true;
                        }
                        Err(e) => self.drop_link(&e),
                    }
                }
                Err(e) => {
                    self.m.connect_failures.inc();
                    tracing::warn!(
                        endpoint = %self.endpoint.addr,
                        error = %e,
                        attempt = self.backoff.attempts() + 1,
                        "cannot connect, retrying"
                    );
                }
            }
        }
    }

    /// On a new connection: the replayed lines (without ack mode), then every pending line.
    async fn resend(&mut self) -> Result<u64, LinkError> {
        let mut batch = Batch::default();
        let mut again = 0;
        for line in self.replay.lines() {
            batch.bytes.extend_from_slice(line);
            again += 1;
        }
        let replayed = again;
        for (seq, line) in self.window.pending_lines() {
            batch.bytes.extend_from_slice(&line.bytes);
            batch.seqs.push((seq, line.bytes.clone()));
            again += u64::from(line.sent_at.is_some());
        }
        if batch.bytes.is_empty() {
            return Ok(0);
        }
        let link = self.link.as_mut().expect("just connected");
        link.write(&batch.bytes).await?;
        self.m.retries.add(again);
        self.m.forwarded.add(replayed);
        self.written(batch);
        Ok(again)
    }

    /// Turns one consumed record into a line in `batch`, or finishes it as skipped/filtered.
    fn on_message(&mut self, message: Result<BorrowedMessage<'_>, KafkaError>, batch: &mut Batch) {
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                match AuthFailed::from_error(&self.settings.kafka.brokers, &e, "") {
                    Some(failed) => {
                        tracing::error!(error = %e, "Kafka refused the consumer: stopping");
                        self.auth_failed = Some(failed);
                    }
                    None => tracing::warn!(error = %e, "Kafka consumer error"),
                }
                return;
            }
        };
        self.apply_reassignment();
        self.m.consumed.inc();
        let (partition, offset) = (message.partition(), message.offset());
        match line::decode(message.payload()) {
            Err(invalid) => {
                let source = format_args!("{}/{partition}@{offset}", message.topic());
                invalid.record(&self.skipped, &source);
                match &self.dead_letters {
                    Some(dead_letters) => {
                        let seq = self.window.push_waiting(partition, offset);
                        let origin = Origin {
                            topic: message.topic(),
                            partition,
                            offset,
                            key: message.key(),
                            value: message.payload(),
                        };
                        dead_letters.send(seq, &origin, invalid.kind.label(), &invalid.detail);
                    }
                    None => self.window.push_finished(partition, offset),
                }
            }
            Ok(signal) if !self.settings.filter.matches(&signal) => {
                self.m.filtered.inc();
                self.window.push_finished(partition, offset);
            }
            Ok(signal) => {
                let raw = message.payload().unwrap_or_default();
                let start = batch.bytes.len();
                line::format::write_line(self.settings.format, &signal, raw, &mut batch.bytes);
                let bytes: Arc<[u8]> = Arc::from(&batch.bytes[start..]);
                let seq = self
                    .window
                    .push_line(partition, offset, &signal.id, bytes.clone());
                batch.seqs.push((seq, bytes));
            }
        }
    }

    /// After a rebalance, forgets the in-flight records of partitions no longer ours (their
    /// next owner resumes from the committed offsets) and of partitions assigned anew (fetched
    /// again from there); the records of partitions kept stay, since their fetch position
    /// moves on. Runs before each consumed record and after every turn.
    fn apply_reassignment(&mut self) {
        let Some(change) = self.shared.take_reassignment() else {
            return;
        };
        let forgotten = self.window.forget(|p| change.keeps(p));
        if forgotten > 0 {
            tracing::info!(
                forgotten,
                in_flight = self.window.len(),
                "rebalance: forgetting the in-flight records of partitions that moved; their owner consumes them again from the committed offsets"
            );
        }
    }

    /// Writes a batch; on failure the connection is dropped and the lines stay pending.
    async fn write(&mut self, batch: Batch) {
        if batch.bytes.is_empty() {
            return;
        }
        let Some(link) = self.link.as_mut() else {
            return;
        };
        match link.write(&batch.bytes).await {
            Ok(()) => self.written(batch),
            Err(e) => self.drop_link(&e),
        }
    }

    /// Bookkeeping for lines that reached the socket.
    fn written(&mut self, batch: Batch) {
        let now = Instant::now();
        self.m.forwarded.add(batch.seqs.len() as u64);
        for (seq, bytes) in batch.seqs {
            self.window.sent(seq, now);
            if !self.settings.ack {
                self.window.finish(seq);
                self.replay.push(bytes);
            }
        }
    }

    /// Handles one event from the peer and any others already queued.
    fn on_peer(&mut self, event: Option<FromPeer>) {
        let mut event = Some(event.unwrap_or(FromPeer::Closed(LinkError::Closed)));
        while let Some(e) = event.take() {
            match e {
                FromPeer::Acks(ids) => {
                    let matched = ids.iter().filter(|id| self.window.ack(id)).count();
                    self.m.acknowledged.add(matched as u64);
                    self.acked_on_link |= matched > 0;
                }
                FromPeer::Closed(reason) => {
                    self.drop_link(&reason);
                    return;
                }
            }
            event = self.link.as_mut().and_then(|l| l.from_peer.try_recv().ok());
        }
    }

    /// At an ack timeout: counts it against the lines that had their time, if the receiver
    /// was answering (it acknowledged something on this connection, or the line waits alone;
    /// a receiver that acknowledges nothing while several lines wait is stalled, which is no
    /// line's fault). A line that reached `ack_tries` is given up: dead-lettered, or, without
    /// a dead-letter topic, the forwarder stops with an error.
    fn give_up_unacknowledged(&mut self) -> Result<(), GivenUp> {
        let alone = self.window.pending_lines().nth(1).is_none();
        if !self.acked_on_link && !alone {
            return Ok(());
        }
        let Some(cutoff) = Instant::now().checked_sub(self.settings.ack_timeout) else {
            return Ok(());
        };
        let tries = self.settings.ack_tries;
        for seq in self.window.strike(cutoff, tries) {
            let Some(given_up) = self.window.give_up(seq) else {
                continue;
            };
            self.m.unacknowledged.inc();
            let (partition, offset, id) = (given_up.partition, given_up.offset, &given_up.line.id);
            let Some(dead_letters) = &self.dead_letters else {
                return Err(GivenUp {
                    id: id.to_string(),
                    topic: self.settings.topic.clone(),
                    partition,
                    offset,
                    tries,
                });
            };
            tracing::error!(
                %id,
                partition,
                offset,
                tries,
                "signal never acknowledged, copying it to the dead-letter topic and committing past it"
            );
            let bytes = &given_up.line.bytes;
            let origin = Origin {
                topic: &self.settings.topic,
                partition,
                offset,
                key: None,
                value: Some(bytes.strip_suffix(b"\n").unwrap_or(bytes)),
            };
            let detail = format!("not acknowledged after {tries} tries");
            dead_letters.send(seq, &origin, "unacknowledged", &detail);
        }
        Ok(())
    }

    fn drop_link(&mut self, reason: &LinkError) {
        if self.link.take().is_some() {
            tracing::warn!(
                endpoint = %self.endpoint.addr,
                error = %reason,
                pending = self.window.pending_lines().count(),
                "connection lost, reconnecting"
            );
        }
        self.m.connected.set(0);
    }

    /// On shutdown: write what is unwritten, wait for acknowledgements and dead-letter copies,
    /// all within the shutdown timeout.
    async fn finish_in_flight(
        &mut self,
        dead_letter_done: &mut Option<mpsc::UnboundedReceiver<Seq>>,
    ) {
        let deadline = Instant::now() + self.settings.shutdown_timeout;
        let unwritten = self
            .window
            .pending_lines()
            .any(|(_, l)| l.sent_at.is_none());
        if unwritten && self.link.is_some() {
            let resend = tokio::time::timeout_at(deadline.into(), self.resend_unwritten()).await;
            if let Ok(Err(e)) = resend {
                self.drop_link(&e);
            }
        }
        while !self.window.is_empty() && Instant::now() < deadline {
            let waiting_for_acks = self.settings.ack
                && self.link.is_some()
                && self.window.pending_lines().next().is_some();
            let waiting_for_copies = dead_letter_done.is_some() && self.window.has_waiting();
            if !waiting_for_acks && !waiting_for_copies {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline.into()) => break,
                event = recv_link(&mut self.link) => self.on_peer(event),
                Some(seq) = recv_opt(dead_letter_done) => self.window.finish(seq),
            }
        }
    }

    /// Writes the pending lines never written yet (no replay: the connection is fine).
    async fn resend_unwritten(&mut self) -> Result<(), LinkError> {
        let mut batch = Batch::default();
        for (seq, line) in self
            .window
            .pending_lines()
            .filter(|(_, l)| l.sent_at.is_none())
        {
            batch.bytes.extend_from_slice(&line.bytes);
            batch.seqs.push((seq, line.bytes.clone()));
        }
        if let Some(link) = self.link.as_mut() {
            link.write(&batch.bytes).await?;
            self.written(batch);
        }
        Ok(())
    }

    /// Hands the commit positions that moved to the shared map, where a revocation finds them.
    fn publish_finished(&mut self) {
        let moved = self.window.take_commits();
        if !moved.is_empty() {
            let mut finished = self
                .shared
                .finished
                .lock()
                .expect("finished-offsets lock poisoned");
            finished.extend(moved);
        }
    }

    /// Commits the finished positions, for partitions still assigned to us.
    fn commit(&mut self, consumer: &StreamConsumer<Context>, mode: CommitMode) {
        self.last_commit = Instant::now();
        let moved = self.shared.take_finished(None);
        if moved.is_empty() {
            return;
        }
        let assigned = consumer.assignment().unwrap_or_default();
        let mut tpl = TopicPartitionList::new();
        for (partition, offset) in moved {
            if assigned
                .find_partition(&self.settings.topic, partition)
                .is_some()
            {
                let _ = tpl.add_partition_offset(
                    &self.settings.topic,
                    partition,
                    Offset::Offset(offset),
                );
            }
        }
        if tpl.count() == 0 {
            return;
        }
        self.m.commits.inc();
        if let Err(e) = consumer.commit(&tpl, mode) {
            tracing::warn!(error = %e, "offset commit failed; those records may be sent again");
        }
    }
}

async fn recv_opt<T>(rx: &mut Option<mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_link(link: &mut Option<Link>) -> Option<FromPeer> {
    match link {
        Some(link) => link.from_peer.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
