//! Without acknowledgements, the most recently written lines, kept to be sent again after a
//! reconnect.
//!
//! A successful write only means the bytes reached our socket buffer. When the receiver dies,
//! what sat in our send buffer and its receive buffer is gone, though the offsets were already
//! committed. TCP delivers a prefix of what was written, so the lost lines are always the most
//! recent ones; re-sending the last few megabytes covers them, and the receiver drops the
//! duplicates by id. (Ack mode does not need this: it never commits an unacknowledged line.)

use std::collections::VecDeque;
use std::sync::Arc;

/// The newest written lines, up to a byte budget.
#[derive(Debug)]
pub struct Replay {
    lines: VecDeque<Arc<[u8]>>,
    bytes: usize,
    max_bytes: usize,
}

impl Replay {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            lines: VecDeque::new(),
            bytes: 0,
            max_bytes,
        }
    }

    /// Remembers a written line, forgetting the oldest ones beyond the budget.
    pub fn push(&mut self, line: Arc<[u8]>) {
        if self.max_bytes == 0 {
            return;
        }
        self.bytes += line.len();
        self.lines.push_back(line);
        while self.bytes > self.max_bytes {
            match self.lines.pop_front() {
                Some(old) => self.bytes -= old.len(),
                None => break,
            }
        }
    }

    /// The remembered lines, oldest first.
    pub fn lines(&self) -> impl Iterator<Item = &Arc<[u8]>> {
        self.lines.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_lines_within_the_budget() {
        let mut r = Replay::new(5);
        for s in ["ab", "cd", "ef"] {
            r.push(Arc::from(s.as_bytes()));
        }
        let kept: Vec<_> = r.lines().map(|l| l.to_vec()).collect();
        assert_eq!(kept, [b"cd".to_vec(), b"ef".to_vec()]);
        let mut off = Replay::new(0);
        off.push(Arc::from(&b"x"[..]));
        assert_eq!(off.lines().count(), 0);
    }
}
