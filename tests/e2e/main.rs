mod caps;
mod fake_discord_selftest;
mod fake_pixeldojo_selftest;
mod faults;
mod omni;
mod ops;
mod refine;
mod support;
