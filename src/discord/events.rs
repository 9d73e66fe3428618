//! Gateway events other than commands: connection state, messages in the bot's conversations,
//! button presses and modal submissions. Each event is translated into a core decision here;
//! buttons carry what they need in their `custom_id`, so they keep working after a restart.

use poise::serenity_prelude as serenity;

use super::{followup, Data, Error};

/// poise's event hook: every gateway event passes through here.
pub async fn handle(
    framework: poise::FrameworkContext<'_, Data, Error>,
    event: &serenity::FullEvent,
) -> Result<(), Error> {
    let data = framework.user_data;
    let ctx = framework.serenity_context;
    match event {
        serenity::FullEvent::Ready { .. } => {}
        serenity::FullEvent::Message { new_message } => {
            followup::on_message(ctx, data, new_message).await?;
        }
        serenity::FullEvent::InteractionCreate { interaction } => match interaction {
            serenity::Interaction::Component(press) => {
                followup::on_component(ctx, data, press).await?;
            }
            serenity::Interaction::Modal(submit) => {
                followup::on_modal(ctx, data, submit).await?;
            }
            // Commands and autocomplete are poise's.
            _ => {}
        },
        _ => {}
    }
    Ok(())
}
