mod fake_discord_selftest;
mod fake_pixeldojo_selftest;
mod omni;
mod support;
