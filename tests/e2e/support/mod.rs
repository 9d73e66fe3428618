pub mod fake_discord;
pub mod fake_pixeldojo;
pub mod world;
