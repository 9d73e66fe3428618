//! Checking before promising: from the permissions Discord reports for the channel of a
//! request, what the bot will do with it (a thread, in place, a link, privately), or why it
//! cannot take it at all. Where the bot may not post, the requester must be reachable
//! privately before the request is accepted: a short direct message is sent first, and if
//! Discord refuses it the request is refused (nothing is counted), so no request is ever left
//! without an outcome.

use tracing::info;

use super::{App, Origin, Refused};
use crate::domain::permissions::{self, Delivery, Permission, Permissions, Posting, Venue};
use crate::engine::ports::{Body, Outgoing};

impl App {
    /// What the bot will do with a new clip (one that opens its own conversation) asked for in
    /// `venue` with `perms`. A refusal is already reported.
    pub async fn plan_new(
        &self,
        origin: &Origin,
        venue: Venue,
        perms: Option<Permissions>,
    ) -> Result<Delivery, Refused> {
        let delivery = permissions::delivery(venue, perms);
        if let Posting::Privately { missing } = delivery.posting {
            if !self.reach_privately(origin, missing).await {
                return Err(self.refuse(Refused::CannotPost {
                    missing,
                    privately_too: true,
                }));
            }
        }
        Ok(delivery)
    }

    /// What the bot will do with a clip asked for inside an existing conversation (a button, a
    /// box): the conversation is where it posts, so one it may not post in is refused at once.
    pub fn plan_in_conversation(
        &self,
        venue: Venue,
        perms: Option<Permissions>,
    ) -> Result<Delivery, Refused> {
        permissions::delivery_in_conversation(venue, perms).map_err(|missing| {
            self.refuse(Refused::CannotPost {
                missing,
                privately_too: false,
            })
        })
    }

    /// Sends the requester a direct message saying their clips come there; false if Discord
    /// refuses it (their direct messages are closed to the bot).
    async fn reach_privately(&self, origin: &Origin, missing: Permission) -> bool {
        let dm = match self.chat.dm_channel(origin.user).await {
            Ok(dm) => dm,
            Err(e) => {
                info!(error = %e, user = %origin.user, "cannot open a direct message");
                return false;
            }
        };
        let notice = Outgoing {
            body: Body::PrivateNotice {
                channel: origin.channel,
                permission: missing,
            },
            nonce: None,
        };
        match self.chat.send(dm, notice).await {
            Ok(_) => true,
            Err(e) => {
                info!(error = %e, user = %origin.user, "cannot send a direct message");
                false
            }
        }
    }
}
