//! Integration tests of the analytics crate against the real stack.

mod skeleton;
