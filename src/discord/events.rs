//! Gateway events other than commands: connection state, messages in the bot's conversations,
//! button presses and modal submissions. Each event is translated into a core decision here;
//! buttons carry what they need in their `custom_id`, so they keep working after a restart.

use poise::serenity_prelude as serenity;

use super::{Data, Error};

/// poise's event hook: every gateway event passes through here.
pub async fn handle(
    framework: poise::FrameworkContext<'_, Data, Error>,
    event: &serenity::FullEvent,
) -> Result<(), Error> {
    let _data = framework.user_data;
    #[allow(clippy::single_match)] // grows one arm per event the bot handles
    match event {
        serenity::FullEvent::Ready { .. } => {}
        _ => {}
    }
    Ok(())
}
