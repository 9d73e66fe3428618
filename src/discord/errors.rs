//! Errors for two audiences: users get a short sentence, operators get the cause in the log.

use poise::serenity_prelude as serenity;
use tracing::{error, warn};

use super::texts::GENERIC_FAILURE;
use super::{Data, Error};

/// An error whose text is written for the user who ran the command.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

/// Discord's JSON error code and HTTP status of a failed REST call, if that is what it was.
pub fn discord_error(e: &serenity::Error) -> Option<(u16, isize)> {
    match e {
        serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(resp)) => {
            Some((resp.status_code.as_u16(), resp.error.code))
        }
        _ => None,
    }
}

/// A one-line cause for the log that never includes request URLs (they can carry tokens).
pub fn describe(e: &serenity::Error) -> String {
    match e {
        serenity::Error::Http(serenity::HttpError::UnsuccessfulRequest(resp)) => format!(
            "Discord answered {} (code {}): {}",
            resp.status_code, resp.error.code, resp.error.message
        ),
        other => redact_tokens(&other.to_string()),
    }
}

/// Text for a log line with interaction and webhook tokens cut out: they sit in REST paths
/// (`/webhooks/{app}/{token}/...`, `/interactions/{id}/{token}/...`) that some errors quote.
pub fn redact_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = ["/webhooks/", "/interactions/"]
        .iter()
        .filter_map(|m| rest.find(m).map(|i| (i, m.len())))
        .min()
    {
        let (start, len) = at;
        out.push_str(&rest[..start + len]);
        rest = &rest[start + len..];
        // Keep the id, drop the token after it.
        let id_end = rest.find('/').unwrap_or(rest.len());
        out.push_str(&rest[..id_end]);
        rest = &rest[id_end..];
        if let Some(after) = rest.strip_prefix('/') {
            let token_end = after.find(['/', '?', ' ', ')']).unwrap_or(after.len());
            out.push_str("/[redacted]");
            rest = &after[token_end..];
        }
    }
    out.push_str(rest);
    out
}

/// Why Discord closes the gateway with 4014: the bot asks for Message Content, which is a
/// privileged intent switched off in the Developer Portal.
pub const MESSAGE_CONTENT_DISALLOWED: &str = "Discord refused the Message Content intent (close code 4014): switch on Message Content Intent in the Developer Portal (your application → Bot → Privileged Gateway Intents), or set `discord.message_content_intent = false` in the config to run without it (users then reply to a clip or mention the bot to refine it).";

/// Why the client stopped, in words an operator can act on.
pub fn describe_client_error(e: &serenity::Error) -> String {
    match e {
        serenity::Error::Gateway(serenity::GatewayError::InvalidAuthentication) => {
            "Discord refused the bot token: check `discord.token` (or DISCORD_TOKEN).".to_owned()
        }
        serenity::Error::Gateway(serenity::GatewayError::DisallowedGatewayIntents) => {
            MESSAGE_CONTENT_DISALLOWED.to_owned()
        }
        serenity::Error::Gateway(serenity::GatewayError::InvalidGatewayIntents) => {
            "Discord refused the requested gateway intents as invalid (close code 4013); this is a bug in omni-bot, please report it.".to_owned()
        }
        other => format!("the Discord connection ended: {}", describe(other)),
    }
}

async fn reply_privately(ctx: super::Context<'_>, text: &str) {
    let reply = poise::CreateReply::default()
        .content(text)
        .ephemeral(true)
        .allowed_mentions(serenity::CreateAllowedMentions::new());
    if let Err(e) = ctx.send(reply).await {
        warn!(error = %describe(&e), "cannot send an error reply");
    }
}

/// Handles every error poise reports, so that no failure leaves a user without an answer.
pub async fn on_error(err: poise::FrameworkError<'_, Data, Error>) {
    match err {
        poise::FrameworkError::Command { error, ctx, .. } => {
            if let Some(user) = error.downcast_ref::<UserError>() {
                reply_privately(ctx, &user.0).await;
            } else {
                error!(command = %ctx.command().qualified_name, user = %ctx.author().id, error = %redact_tokens(&format!("{error:#}")), "command failed");
                reply_privately(ctx, GENERIC_FAILURE).await;
            }
        }
        poise::FrameworkError::ArgumentParse {
            error, input, ctx, ..
        } => {
            warn!(command = %ctx.command().qualified_name, ?input, error = %error, "cannot parse an option");
            reply_privately(
                ctx,
                "I couldn't read one of the options you gave. Please check them and try again.",
            )
            .await;
        }
        poise::FrameworkError::MissingUserPermissions { ctx, .. } => {
            reply_privately(ctx, "You don't have the permission this command needs.").await;
        }
        poise::FrameworkError::GuildOnly { ctx, .. } => {
            reply_privately(ctx, "This command only works in a server.").await;
        }
        poise::FrameworkError::Setup { error, .. } => {
            // Without setup (commands registered, tracker started) the bot can only fail every
            // request: stop, so that the operator or the supervisor sees it and restarts.
            error!(error = %format!("{error:#}"), "setup failed; stopping");
            eprintln!("omni-bot: start-up failed: {error:#}");
            std::process::exit(1);
        }
        other => {
            if let Err(e) = poise::builtins::on_error(other).await {
                error!(error = %describe(&e), "error while handling an error");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interaction_and_webhook_tokens_are_cut_out_of_log_text() {
        let text = "error sending request for url (https://discord.com/api/v10/webhooks/123/aW50ZXJhY3Rpb246c2VjcmV0/messages/@original): timed out";
        let clean = redact_tokens(text);
        assert!(!clean.contains("aW50ZXJhY3Rpb246c2VjcmV0"), "{clean}");
        assert!(
            clean.contains("/webhooks/123/[redacted]/messages/@original"),
            "{clean}"
        );
        let callback = redact_tokens("POST /api/v10/interactions/9/tok_en.x/callback failed");
        assert_eq!(
            callback,
            "POST /api/v10/interactions/9/[redacted]/callback failed"
        );
        assert_eq!(redact_tokens("nothing here"), "nothing here");
    }
}
