//! The in-flight window: records consumed but not yet committable, in consumption order.
//!
//! This is where "commit only what was delivered" is decided. A record enters when it is
//! consumed and is *finished* when its line was written (or acknowledged, in ack mode), when it
//! was filtered out or skipped, or when its dead-letter copy was stored. The commit position of
//! a partition only moves past a record once it and every record consumed before it are
//! finished, so a crash or a broken connection re-sends rather than loses. The window's size is
//! capped in records and bytes; the forwarder stops consuming while it is full.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

/// Position of a record in the window (consumption order, never reused).
pub type Seq = u64;

/// A line waiting to be written or acknowledged.
#[derive(Debug, Clone)]
pub struct Line {
    pub bytes: Arc<[u8]>,
    /// The signal's id (what the receiver acknowledges).
    pub id: Arc<str>,
    /// When it was last written; `None` until it is.
    pub sent_at: Option<Instant>,
    /// Acknowledgement timeouts counted against it (see [`Window::strike`]).
    pub strikes: u32,
}

/// A record whose line was given up (see [`Window::give_up`]).
#[derive(Debug)]
pub struct GivenUpLine {
    pub partition: i32,
    pub offset: i64,
    pub line: Line,
}

#[derive(Debug)]
enum State {
    Finished,
    /// Waiting for something other than the endpoint (a dead-letter delivery).
    Waiting,
    Pending(Line),
    /// Of a partition no longer ours (or fetched again from its committed offset): it neither
    /// finishes nor moves a commit position, and leaves the window as soon as it is in front.
    Forgotten,
}

#[derive(Debug)]
struct Slot {
    partition: i32,
    offset: i64,
    state: State,
}

/// Records in flight and the commit positions they allow.
#[derive(Debug)]
pub struct Window {
    slots: VecDeque<Slot>,
    /// Seq of `slots[0]`.
    first: Seq,
    bytes: usize,
    max_records: usize,
    max_bytes: usize,
    /// In ack mode: pending lines by signal id, oldest first (an id may repeat).
    by_id: Option<HashMap<Arc<str>, VecDeque<Seq>>>,
    /// Next offset to commit per partition, moved since the last [`Window::take_commits`].
    commits: HashMap<i32, i64>,
}

impl Window {
    /// `acks`: lines finish on [`Window::ack`] rather than on [`Window::finish`].
    pub fn new(max_records: usize, max_bytes: usize, acks: bool) -> Self {
        Self {
            slots: VecDeque::new(),
            first: 0,
            bytes: 0,
            max_records,
            max_bytes,
            by_id: acks.then(HashMap::new),
            commits: HashMap::new(),
        }
    }

    /// Whether another record may be consumed.
    pub fn has_room(&self) -> bool {
        self.slots.len() < self.max_records && self.bytes < self.max_bytes
    }

    /// Records in the window.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// A record with nothing left to do (filtered out, or skipped without dead-lettering).
    pub fn push_finished(&mut self, partition: i32, offset: i64) {
        self.push(partition, offset, State::Finished);
        self.advance();
    }

    /// A record that finishes later through [`Window::finish`] (a dead-letter delivery).
    pub fn push_waiting(&mut self, partition: i32, offset: i64) -> Seq {
        self.push(partition, offset, State::Waiting)
    }

    /// A record whose line must reach the endpoint.
    pub fn push_line(&mut self, partition: i32, offset: i64, id: &str, bytes: Arc<[u8]>) -> Seq {
        self.bytes += bytes.len();
        let id: Arc<str> = Arc::from(id);
        let seq = self.push(
            partition,
            offset,
            State::Pending(Line {
                bytes,
                id: id.clone(),
                sent_at: None,
                strikes: 0,
            }),
        );
        if let Some(by_id) = &mut self.by_id {
            by_id.entry(id).or_default().push_back(seq);
        }
        seq
    }

    fn push(&mut self, partition: i32, offset: i64, state: State) -> Seq {
        let seq = self.first + self.slots.len() as Seq;
        self.slots.push_back(Slot {
            partition,
            offset,
            state,
        });
        seq
    }

    /// Records that the line of `seq` was written at `at`.
    pub fn sent(&mut self, seq: Seq, at: Instant) {
        if let Some(State::Pending(line)) = self.state_mut(seq) {
            line.sent_at = Some(at);
        }
    }

    /// Finishes `seq` (line written without ack mode, or dead-letter stored). Idempotent; a
    /// forgotten record stays forgotten.
    pub fn finish(&mut self, seq: Seq) {
        if let Some(state) = self.state_mut(seq) {
            match std::mem::replace(state, State::Finished) {
                State::Pending(line) => self.bytes -= line.bytes.len(),
                State::Waiting => {}
                unchanged @ (State::Finished | State::Forgotten) => *state = unchanged,
            }
            self.advance();
        }
    }

    /// Finishes the oldest pending line with this signal id; false if there is none (a late
    /// or unknown acknowledgement, or a line given up, which is ignored).
    pub fn ack(&mut self, id: &str) -> bool {
        let Some(by_id) = &mut self.by_id else {
            return false;
        };
        let Some(seqs) = by_id.get_mut(id) else {
            return false;
        };
        let seq = seqs.pop_front();
        if seqs.is_empty() {
            by_id.remove(id);
        }
        match seq {
            Some(seq) => {
                self.finish(seq);
                true
            }
            None => false,
        }
    }

    /// Every pending line, oldest first: what to (re)send on a new connection.
    pub fn pending_lines(&self) -> impl Iterator<Item = (Seq, &Line)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| match &slot.state {
                State::Pending(line) => Some((self.first + i as Seq, line)),
                _ => None,
            })
    }

    /// Counts an acknowledgement timeout against every pending line written at or before
    /// `cutoff`; returns those that reached `tries` (never, when `tries` is 0), oldest first.
    pub fn strike(&mut self, cutoff: Instant, tries: u32) -> Vec<Seq> {
        let first = self.first;
        let mut out = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if let State::Pending(line) = &mut slot.state {
                if line.sent_at.is_some_and(|at| at <= cutoff) {
                    line.strikes += 1;
                    if tries > 0 && line.strikes >= tries {
                        out.push(first + i as Seq);
                    }
                }
            }
        }
        out
    }

    /// Stops waiting for the acknowledgement of `seq`'s line: it is neither sent again nor
    /// acknowledged, and waits for [`Window::finish`] (once its dead-letter copy is stored).
    pub fn give_up(&mut self, seq: Seq) -> Option<GivenUpLine> {
        let index = usize::try_from(seq.checked_sub(self.first)?).ok()?;
        let slot = self.slots.get_mut(index)?;
        let State::Pending(line) = std::mem::replace(&mut slot.state, State::Waiting) else {
            return None;
        };
        self.bytes -= line.bytes.len();
        if let Some(by_id) = &mut self.by_id {
            if let Some(seqs) = by_id.get_mut(&line.id) {
                seqs.retain(|s| *s != seq);
                if seqs.is_empty() {
                    by_id.remove(&line.id);
                }
            }
        }
        Some(GivenUpLine {
            partition: slot.partition,
            offset: slot.offset,
            line,
        })
    }

    /// Whether a record waits for something other than the endpoint (a dead-letter copy).
    pub fn has_waiting(&self) -> bool {
        self.slots.iter().any(|s| matches!(s.state, State::Waiting))
    }

    /// When the oldest line still waiting for its acknowledgement was written.
    ///
    /// Lines are written in window order (a reconnect re-sends them all in order, with one new
    /// time), so the first pending line that was written is the oldest one.
    pub fn oldest_unacknowledged(&self) -> Option<Instant> {
        self.pending_lines().find_map(|(_, line)| line.sent_at)
    }

    /// Commit positions (partition, next offset) that moved since the last call.
    pub fn take_commits(&mut self) -> Vec<(i32, i64)> {
        let mut commits: Vec<_> = self.commits.drain().collect();
        commits.sort_unstable();
        commits
    }

    /// Forgets the records of every partition `keeps` rejects (after a rebalance: partitions
    /// no longer ours, or fetched again from their committed offsets); the others stay, in
    /// order, and so do their commit positions. Returns how many were forgotten.
    pub fn forget(&mut self, keeps: impl Fn(i32) -> bool) -> usize {
        let mut forgotten = 0;
        for slot in &mut self.slots {
            if keeps(slot.partition) || matches!(slot.state, State::Forgotten) {
                continue;
            }
            if let State::Pending(line) = std::mem::replace(&mut slot.state, State::Forgotten) {
                self.bytes -= line.bytes.len();
            }
            forgotten += 1;
        }
        if let Some(by_id) = &mut self.by_id {
            let (slots, first) = (&self.slots, self.first);
            by_id.retain(|_, seqs| {
                seqs.retain(|seq| {
                    usize::try_from(seq - first)
                        .ok()
                        .and_then(|i| slots.get(i))
                        .is_some_and(|slot| matches!(slot.state, State::Pending(_)))
                });
                !seqs.is_empty()
            });
        }
        self.commits.retain(|partition, _| keeps(*partition));
        self.advance();
        forgotten
    }

    fn state_mut(&mut self, seq: Seq) -> Option<&mut State> {
        let index = usize::try_from(seq.checked_sub(self.first)?).ok()?;
        self.slots.get_mut(index).map(|slot| &mut slot.state)
    }

    /// Drops finished (and forgotten) records from the front, moving their partitions' commit
    /// positions.
    fn advance(&mut self) {
        while let Some(slot) = self.slots.front() {
            match slot.state {
                State::Finished => {
                    self.commits.insert(slot.partition, slot.offset + 1);
                }
                State::Forgotten => {}
                State::Waiting | State::Pending(_) => break,
            }
            self.slots.pop_front();
            self.first += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> Arc<[u8]> {
        Arc::from(s.as_bytes())
    }

    #[test]
    fn commits_move_only_past_a_finished_prefix() {
        let mut w = Window::new(10, 1000, false);
        let a = w.push_line(0, 10, "a", line("aa"));
        let b = w.push_line(1, 20, "b", line("bb"));
        w.push_finished(0, 11);
        assert!(w.take_commits().is_empty());
        w.finish(b);
        assert!(w.take_commits().is_empty(), "a is still pending");
        w.finish(a);
        assert_eq!(w.take_commits(), [(0, 12), (1, 21)]);
        assert!(w.is_empty());
        assert_eq!(w.bytes, 0);
        w.finish(a); // idempotent, and unknown seqs are ignored
        assert!(w.take_commits().is_empty());
    }

    #[test]
    fn acks_finish_the_oldest_line_with_the_id_and_unacked_lines_stay_pending() {
        let mut w = Window::new(10, 1000, true);
        let a1 = w.push_line(0, 1, "a", line("a"));
        w.push_line(0, 2, "b", line("b"));
        w.push_line(0, 3, "a", line("a"));
        let t = Instant::now();
        for seq in a1..a1 + 3 {
            w.sent(seq, t);
        }
        assert!(w.ack("a"));
        assert_eq!(w.take_commits(), [(0, 2)]);
        assert!(!w.ack("zzz"));
        assert!(w.ack("a")); // the second "a", behind unacknowledged "b"
        assert!(w.take_commits().is_empty());
        // (Each test line is its id.)
        let pending: Vec<_> = w
            .pending_lines()
            .map(|(_, l)| String::from_utf8_lossy(&l.bytes).into_owned())
            .collect();
        assert_eq!(pending, ["b"]);
        assert_eq!(w.oldest_unacknowledged(), Some(t));
        assert!(w.ack("b"));
        assert_eq!(w.take_commits(), [(0, 4)]);
        assert!(!w.ack("a"));
    }

    #[test]
    fn room_is_bounded_by_records_and_bytes_and_waiting_records_hold_commits() {
        let mut w = Window::new(2, 5, false);
        let d = w.push_waiting(0, 1);
        assert!(w.has_room() && w.has_waiting());
        w.push_line(0, 2, "x", line("123456"));
        assert!(!w.has_room());
        w.finish(d);
        assert!(!w.has_waiting());
        assert_eq!(w.take_commits(), [(0, 2)]);
        assert!(!w.has_room(), "bytes still over the limit");
        assert_eq!(w.forget(|_| false), 1);
        assert!(w.has_room() && w.is_empty());
        assert_eq!(w.push_waiting(0, 3), 2, "seqs are never reused");
    }

    #[test]
    fn a_line_struck_often_enough_is_given_up_and_holds_its_commit_until_finished() {
        let mut w = Window::new(10, 1000, true);
        let t = Instant::now();
        let a = w.push_line(0, 1, "a", line("a"));
        let b = w.push_line(1, 5, "b", line("b"));
        w.sent(a, t);
        assert!(w.strike(t, 2).is_empty(), "one strike of two");
        assert!(
            w.strike(t - std::time::Duration::from_secs(1), 2)
                .is_empty(),
            "written after the cutoff"
        );
        assert_eq!(w.strike(t, 2), [a]);
        assert!(w.strike(t, 0).is_empty(), "0: never given up");
        let given_up = w.give_up(a).unwrap();
        assert_eq!(
            (given_up.partition, given_up.offset, &*given_up.line.id),
            (0, 1, "a")
        );
        assert!(!w.ack("a"), "no longer waits for its acknowledgement");
        let pending: Vec<_> = w.pending_lines().map(|(seq, _)| seq).collect();
        assert_eq!(pending, [b], "nor is it sent again");
        w.sent(b, t);
        assert!(w.ack("b"));
        assert!(w.take_commits().is_empty(), "held until its copy is stored");
        w.finish(a);
        assert_eq!(w.take_commits(), [(0, 2), (1, 6)]);
    }

    #[test]
    fn forgetting_a_partition_keeps_the_others_records_and_positions() {
        let mut w = Window::new(10, 1000, true);
        let t = Instant::now();
        let a = w.push_line(0, 1, "a", line("a"));
        let b = w.push_line(1, 7, "b", line("b"));
        let c = w.push_line(0, 2, "c", line("c"));
        let d = w.push_line(1, 8, "d", line("d"));
        for seq in [a, b, c, d] {
            w.sent(seq, t);
        }
        assert!(w.ack("b"));
        assert_eq!(w.forget(|p| p != 1), 2, "b (finished, not committed) and d");
        assert!(!w.ack("d"), "a forgotten line cannot be acknowledged");
        w.finish(d); // nor finished
        let pending: Vec<_> = w.pending_lines().map(|(seq, _)| seq).collect();
        assert_eq!(pending, [a, c], "partition 0 is kept, in order");
        assert!(w.ack("a") && w.ack("c"));
        assert_eq!(
            w.take_commits(),
            [(0, 3)],
            "partition 1's position never moves"
        );
        assert!(w.is_empty());
        assert_eq!(w.bytes, 0);
    }
}
