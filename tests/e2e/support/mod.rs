//! Loopback fakes of the outside world and the harness that runs the real bot against them.
//! Each test uses a part of them, so unused items are expected.
#![allow(dead_code)]

pub mod fake_discord;
pub mod fake_pixeldojo;
pub mod world;
