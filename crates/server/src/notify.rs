//! The notification dispatcher: turns committed events into what people hear.
//!
//! Three loops, each safe to run in several processes at once:
//! - **fan-out** reads outbox events no one has processed, derives who must hear what (outbid,
//!   deposit confirmed, lot opening, won or lost, listing approved or rejected), and writes the
//!   inbox rows, the e-mail deliveries and the "processed" mark in one transaction. Every row's
//!   key is derived from the event, so two processes deriving the same event write it once; the
//!   live channel is pushed after the commit.
//! - **e-mail** claims due deliveries with a lease, renders them in the recipient's language and
//!   sends them; failures retry with exponential backoff and are parked after the last attempt.
//! - **clock work**: "ending soon" reminders (once per lot and person, by the server's clock) and
//!   saved-search alerts for new and changed listings (immediate, or a daily digest).

use crate::indexer::Indexer;
use achex_api::AppState;
use achex_api::routes::notifications::{live_message, notification_view, recipients_of_many};
use achex_api::routes::search::SearchParams;
use achex_bidding_engine::engine::LogEntry;
use achex_bidding_engine::{Command, EventKind, Outcome, Status};
use achex_core::{AuctionId, LangText, ListingId, Money, NotificationId, UserId};
use achex_listing::ListingStatus;
use achex_notification::{
    Channel, ListingChange, Mailer, MatchedListing, NotificationKind, NotificationPayload, OutgoingEmail, Preferences,
    Recipient, RetryPolicy, render,
};
use achex_search::Sort;
use achex_store::{
    DueDelivery, EmailClaim, ListingTitle, NewNotification, OutboxEvent, RecipientAccount, RecordedFanOut, SavedSearch,
    StoredNotification, Topic,
};
use actix_web::web;
use anyhow::Context;
use chrono::{DateTime, Duration, Timelike, Utc};
use futures_util::StreamExt;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use tokio::sync::{Mutex, Notify, watch};
use uuid::Uuid;

/// Outbox events a fan-out round reads and writes in one transaction. A round's fixed costs
/// (its transaction and lock, the recipients' query) are shared by more events at 1,000 than at
/// 500: a burst of 10,000 on PostgreSQL went out 13% faster (bench-notify); the first e-mail
/// waits for the first round, about 60 ms there.
pub const FAN_OUT_ROUND: u64 = 1_000;

/// Sender rounds running at once (see `Notifier::spawn`).
const MAIL_LANES: usize = 2;

/// At most this many e-mails wait in a process's hand-over queue, claimed by its fan-out (see
/// [`EmailClaim`]). A burst of 10,000 approvals is mostly handed over: the fan-out runs ahead of
/// the senders by a few thousand. A process killed holding them delays that many mails by one
/// lease; a process that shuts down releases them.
const HANDED_AT_MOST: usize = 4_096;

/// What the dispatcher needs to know from the configuration.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// Public address of the web client, for links in e-mails.
    pub base_url: String,
    pub retry: RetryPolicy,
    /// How long before a lot's end its bidders are reminded.
    pub ending_soon: Duration,
    /// Hour (UTC) of the daily saved-search digest.
    pub digest_hour: u32,
    /// E-mails sent concurrently.
    pub senders: usize,
    /// Mails each sender takes in a round (one SMTP batch, pipelined).
    pub mails_per_sender: usize,
    /// How long a sender holds a claimed delivery before another may retry it.
    pub lease: Duration,
}

/// What the dispatcher remembers of a lot between events: who hides behind each bidder code, who
/// leads, and each bidder's latest maximum. Rebuilt from the log after a restart.
#[derive(Debug, Default)]
struct LotMemory {
    /// Log entries up to this index have been taken into account.
    seen: u64,
    listing: Option<ListingId>,
    title: LangText,
    bidders: HashMap<String, UserId>,
    leader: Option<String>,
    max: HashMap<UserId, Money>,
    ends_at: Option<DateTime<Utc>>,
}

pub struct Notifier {
    state: web::Data<AppState>,
    mailer: Arc<dyn Mailer>,
    indexer: Arc<Indexer>,
    config: NotifyConfig,
    lots: Mutex<HashMap<AuctionId, LotMemory>>,
    mail_due: Notify,
    /// E-mails this process's fan-out wrote claimed for its own senders, oldest first: sent
    /// without claiming them again.
    handed: std::sync::Mutex<VecDeque<Handed>>,
    /// E-mails in flight across all sender rounds: at most `senders` (the rounds overlap so that
    /// one claims and records while another sends).
    send_permits: tokio::sync::Semaphore,
    /// Sender rounds running now, in any lane or called from outside ([`Notifier::quiet`]).
    rounds_in_flight: watch::Sender<usize>,
    /// Saved-search watermark: the newest publication or auction change already matched (in
    /// memory, per process).
    newest_change_seen: Mutex<Option<DateTime<Utc>>>,
    /// Lots whose "ending soon" reminders are stored (the database deduplicates anyway; this
    /// saves reading their logs every round).
    reminded: Mutex<HashSet<AuctionId>>,
}

/// An e-mail delivery claimed when it was written, waiting for a sender of this process.
struct Handed {
    delivery: DueDelivery,
    claimed_until: DateTime<Utc>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Who hears about a listing event: its creator, when it was approved or rejected. The listing is
/// `None` when it no longer exists.
fn derive_listing(
    event: &OutboxEvent,
    listing_id: ListingId,
    listing: Option<&ListingTitle>,
) -> anyhow::Result<Vec<(UserId, NotificationPayload, Uuid)>> {
    let Some(listing) = listing else { return Ok(Vec::new()) };
    let title = listing.title.clone();
    let payload = match event.kind.as_str() {
        "approved" => NotificationPayload::ListingApproved { listing_id, listing_title: title },
        "rejected" => NotificationPayload::ListingRejected {
            listing_id,
            listing_title: title,
            reason: event.payload.get("reason").and_then(|r| r.as_str()).unwrap_or_default().to_owned(),
        },
        _ => return Ok(Vec::new()),
    };
    Ok(vec![(listing.created_by, payload, event.event_id)])
}

/// The people a round of notifications goes to: accounts and preferences, read at once.
struct Recipients {
    accounts: HashMap<UserId, RecipientAccount>,
    preferences: HashMap<UserId, Preferences>,
}

impl Recipients {
    fn allows(&self, user: UserId, kind: NotificationKind, channel: Channel) -> bool {
        self.preferences.get(&user).is_none_or(|p| p.allows(kind, channel))
    }
}

/// How a saved-search alert describes an auction phase (status names as the store writes them).
fn listing_change(phase: &str) -> Option<ListingChange> {
    match phase {
        "upcoming" => Some(ListingChange::AuctionUpcoming),
        "free_quote" | "live" | "closing" => Some(ListingChange::AuctionOpen),
        "closed" => Some(ListingChange::AuctionClosed),
        _ => None,
    }
}

/// A stable id for something derived from an event (`parts` tell the derivations apart), so
/// deriving it again gives the same id.
fn derived_id(parts: &[&[u8]]) -> Uuid {
    let mut name = Vec::new();
    for part in parts {
        name.extend_from_slice(&(part.len() as u32).to_be_bytes());
        name.extend_from_slice(part);
    }
    Uuid::new_v5(&DERIVED_NAMESPACE, &name)
}

const DERIVED_NAMESPACE: Uuid = Uuid::from_u128(0x6163_6865_785f_6e6f_7469_6679_5f76_3101);

impl Notifier {
    pub fn new(
        state: web::Data<AppState>,
        mailer: Arc<dyn Mailer>,
        indexer: Arc<Indexer>,
        config: NotifyConfig,
    ) -> Notifier {
        Notifier {
            send_permits: tokio::sync::Semaphore::new(config.senders.max(1)),
            rounds_in_flight: watch::Sender::new(0),
            state,
            mailer,
            indexer,
            config,
            lots: Mutex::new(HashMap::new()),
            mail_due: Notify::new(),
            handed: std::sync::Mutex::new(VecDeque::new()),
            newest_change_seen: Mutex::new(None),
            reminded: Mutex::new(HashSet::new()),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.state.clock.now()
    }

    // -----------------------------------------------------------------------------------------
    // Fan-out

    /// Processes the outbox events nobody has processed yet. Returns how many.
    ///
    /// A round reads what it needs in bulk (the events' listings, the recipients and their
    /// preferences) and writes in one transaction: per-event queries cost more than everything
    /// else in a burst (see `bench-notify`).
    pub async fn fan_out_once(&self) -> anyhow::Result<usize> {
        let events = self.state.store.unprocessed_outbox(FAN_OUT_ROUND).await?;
        if events.is_empty() {
            return Ok(0);
        }
        // Only approvals and rejections are told to anyone (`derive_listing`).
        let told = |e: &&OutboxEvent| e.topic == Topic::Listing && matches!(e.kind.as_str(), "approved" | "rejected");
        let listings = self.state.store.listing_titles_of_events(events.iter().filter(told)).await?;
        let mut derived = Vec::new();
        for event in &events {
            let more = match event.topic {
                Topic::Listing => {
                    let listing = ListingId(event.subject);
                    derive_listing(event, listing, listings.get(&listing))
                }
                Topic::Auction => self.derive_auction(event).await,
            };
            derived.extend(more.with_context(|| format!("outbox event {}", event.position))?);
        }
        let (notifications, recipients) = self.with_channels(derived).await?;
        let positions: Vec<i64> = events.iter().map(|e| e.position).collect();
        let claim = self.email_claim();
        let recorded = self.state.store.record_fan_out(&positions, &notifications, self.now(), claim).await?;
        self.after_commit(&notifications, &recorded, claim, &recipients);
        Ok(events.len())
    }

    /// The accounts and preferences of everyone in `users`, read at once (one query).
    async fn recipients(&self, mut users: Vec<UserId>) -> anyhow::Result<Recipients> {
        users.sort_unstable();
        users.dedup();
        let (accounts, preferences) =
            recipients_of_many(&self.state, &users).await.map_err(|e| anyhow::anyhow!("recipients: {e}"))?;
        Ok(Recipients { accounts, preferences })
    }

    /// Decides the e-mail channel from each recipient's preferences.
    async fn with_channels(
        &self,
        derived: Vec<(UserId, NotificationPayload, Uuid)>,
    ) -> anyhow::Result<(Vec<NewNotification>, Recipients)> {
        let recipients = self.recipients(derived.iter().map(|(user, _, _)| *user).collect()).await?;
        let mut out = Vec::with_capacity(derived.len());
        let now = self.now();
        for (user, payload, event_id) in derived {
            let kind = payload.kind();
            out.push(NewNotification {
                event_id,
                user_id: user,
                kind: kind.as_str().to_owned(),
                payload: serde_json::to_value(&payload)?,
                created_at: now,
                email: recipients.allows(user, kind, Channel::Email),
            });
        }
        Ok((out, recipients))
    }

    /// How many of the e-mails a fan-out writes it claims for this process's senders, and until
    /// when: as many as the hand-over queue has room for.
    fn email_claim(&self) -> EmailClaim {
        let queued = self.handed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len();
        EmailClaim { until: self.now() + self.config.lease, at_most: HANDED_AT_MOST.saturating_sub(queued) }
    }

    /// Pushes new notifications to connected users, hands the e-mails claimed for this process
    /// to its senders and wakes them.
    fn after_commit(
        &self,
        notifications: &[NewNotification],
        recorded: &RecordedFanOut,
        claim: EmailClaim,
        recipients: &Recipients,
    ) {
        if recorded.fresh.is_empty() {
            return;
        }
        let fresh: HashSet<NotificationId> = recorded.fresh.iter().copied().collect();
        let claimed: HashSet<NotificationId> = recorded.claimed.iter().copied().collect();
        let mut any_email = false;
        let mut handed = Vec::with_capacity(claimed.len());
        let now = self.now();
        for n in notifications.iter().filter(|n| fresh.contains(&n.id())) {
            any_email |= n.email;
            let stored = || StoredNotification {
                id: n.id(),
                event_id: n.event_id,
                user_id: n.user_id,
                kind: n.kind.clone(),
                payload: n.payload.clone(),
                created_at: n.created_at,
                read_at: None,
            };
            if claimed.contains(&n.id()) {
                let delivery = DueDelivery { notification: stored(), attempts: 0 };
                handed.push(Handed { delivery, claimed_until: claim.until });
            }
            let Ok(kind) = n.kind.parse::<NotificationKind>() else { continue };
            if !recipients.allows(n.user_id, kind, Channel::Live) {
                continue;
            }
            let Some(user) = recipients.accounts.get(&n.user_id) else { continue };
            let view = notification_view(stored(), user.language);
            self.state.hub.publish_to_user(n.user_id, live_message(&view, now).into());
        }
        if !handed.is_empty() {
            self.handed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(handed);
        }
        if any_email {
            self.mail_due.notify_one();
        }
    }

    /// Up to `limit` e-mails from the hand-over queue, oldest first. One whose claim has less
    /// than half its lease left is dropped instead: its claim may run out while it is sent, so it
    /// goes back to [`achex_store::Store::claim_due_emails`] (anyone's, once the claim ends).
    fn take_handed(&self, limit: usize) -> Vec<DueDelivery> {
        let fresh_enough = self.now() + self.config.lease / 2;
        let mut queue = self.handed.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = Vec::with_capacity(limit.min(queue.len()));
        while out.len() < limit {
            let Some(h) = queue.pop_front() else { break };
            if h.claimed_until >= fresh_enough {
                out.push(h.delivery);
            }
        }
        out
    }

    /// Gives up the claims of the e-mails still in the hand-over queue, so that whoever runs next
    /// (another process, or this one restarted) sends them at once instead of after their lease.
    pub async fn release_handed(&self) -> anyhow::Result<usize> {
        let held: Vec<Handed> =
            self.handed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).drain(..).collect();
        let Some(until) = held.iter().map(|h| h.claimed_until).max() else { return Ok(0) };
        let ids: Vec<NotificationId> = held.iter().map(|h| h.delivery.notification.id).collect();
        self.state.store.release_email_claims(&ids, until).await?;
        Ok(ids.len())
    }

    /// Brings a lot's memory up to `upto` (exclusive of what is being derived now).
    async fn remember(
        &self,
        lots: &mut HashMap<AuctionId, LotMemory>,
        auction: AuctionId,
        upto: u64,
    ) -> anyhow::Result<()> {
        let memory = lots.entry(auction).or_default();
        if memory.listing.is_none() {
            let lot = self.state.store.auction(auction).await?;
            memory.listing = Some(lot.listing_id);
            memory.ends_at = Some(lot.summary.ends_at);
            memory.title = match self.state.store.listing(lot.listing_id).await {
                Ok(listing) => listing.content.title,
                Err(_) => LangText::default(),
            };
        }
        if memory.seen < upto {
            let entries = self.state.store.auction_log_between(auction, memory.seen + 1, upto).await?;
            for entry in &entries {
                learn(memory, entry);
            }
            memory.seen = upto.max(memory.seen);
        }
        Ok(())
    }

    async fn derive_auction(&self, event: &OutboxEvent) -> anyhow::Result<Vec<(UserId, NotificationPayload, Uuid)>> {
        let auction: AuctionId = event.subject.into();
        let from = event.payload.get("from_index").and_then(|v| v.as_u64()).unwrap_or(1);
        let to = event.payload.get("to_index").and_then(|v| v.as_u64()).unwrap_or(from);
        let mut lots = self.lots.lock().await;
        // Memory that has already seen these entries (a batch that failed to commit is being
        // derived again) would derive from the wrong leader: start the lot afresh.
        if lots.get(&auction).is_some_and(|m| m.seen >= from) {
            lots.remove(&auction);
        }
        self.remember(&mut lots, auction, from.saturating_sub(1)).await?;
        let entries = self.state.store.auction_log_between(auction, from, to).await?;
        let memory = lots.get_mut(&auction).context("lot memory")?;
        let mut out = Vec::new();
        for entry in &entries {
            out.extend(derive_entry(memory, auction, event.event_id, entry));
            memory.seen = memory.seen.max(entry.index);
        }
        // Watchers hear that the lot opened, like the registered bidders (once each).
        let title = memory.title.clone();
        let mut opened = Vec::new();
        for entry in &entries {
            for (n, e) in entry.events.iter().enumerate() {
                if let EventKind::PhaseChanged { status: Status::Live | Status::FreeQuote } = e.kind {
                    let id = derived_id(&[
                        event.event_id.as_bytes(),
                        &entry.index.to_be_bytes(),
                        &(n as u64).to_be_bytes(),
                        b"starting",
                    ]);
                    opened.push((e.at, id));
                }
            }
        }
        drop(lots);
        if let Some(&(at, id)) = opened.first() {
            let told: HashSet<UserId> = out.iter().map(|(user, _, _)| *user).collect();
            for watcher in self.state.store.auction_watchers(auction).await? {
                if !told.contains(&watcher) {
                    let payload = NotificationPayload::AuctionStarting {
                        auction_id: auction,
                        listing_title: title.clone(),
                        starts_at: at,
                    };
                    out.push((watcher, payload, id));
                }
            }
        }
        Ok(out)
    }

    // -----------------------------------------------------------------------------------------
    // E-mail

    /// Sends the e-mails that are due. Returns how many were attempted.
    ///
    /// A round takes what this process's fan-out handed over first (claimed when written) and
    /// claims from the database only when there is none: mail a fan-out just wrote goes out
    /// before older mail that waits in the database (retries, and what the hand-over queue had no
    /// room for). The round's recipients are read at once and the sent ones marked in one transaction at the
    /// end (one durable commit per round instead of per message). The round's mail is split into
    /// one batch per sender, each sent on one connection (with a server that pipelines, a round
    /// trip a mail). Delivery stays at least once: a crash after sending and before that commit
    /// sends the round's mails again after their lease, with the same `Message-ID`, which
    /// receiving servers and clients use to drop the copy.
    pub async fn send_due_once(&self) -> anyhow::Result<usize> {
        self.rounds_in_flight.send_modify(|n| *n += 1);
        let _round = RoundGuard(&self.rounds_in_flight);
        let senders = self.config.senders.max(1);
        let round = senders * self.config.mails_per_sender.max(1);
        let mut due = self.take_handed(round);
        if due.is_empty() {
            due = self.state.store.claim_due_emails(self.now(), self.config.lease, round as u64).await?;
        }
        let count = due.len();
        if due.is_empty() {
            return Ok(0);
        }
        let recipients = self.recipients(due.iter().map(|d| d.notification.user_id).collect()).await?;
        let mut deliveries = Vec::with_capacity(count);
        let mut emails = Vec::with_capacity(count);
        for delivery in due {
            match self.email_for(&delivery, &recipients).await {
                Ok(Some(email)) => {
                    deliveries.push(delivery);
                    emails.push(email);
                }
                Ok(None) => {}
                // One delivery that can't be read or recorded does not hold up the others.
                Err(e) => tracing::warn!(
                    notification = %delivery.notification.id,
                    error = %format!("{e:#}"),
                    "preparing an e-mail failed; its lease will expire"
                ),
            }
        }
        let per_batch = emails.len().div_ceil(senders).max(1);
        let sent = std::sync::Mutex::new(Vec::with_capacity(count));
        futures_util::stream::iter(deliveries.chunks(per_batch).zip(emails.chunks(per_batch)))
            .for_each_concurrent(senders, |(deliveries, emails)| {
                let sent = &sent;
                async move {
                    // The semaphore is never closed.
                    let Ok(_permit) = self.send_permits.acquire().await else { return };
                    let results = self.mailer.send_batch(emails).await;
                    for (delivery, result) in deliveries.iter().zip(results) {
                        match result {
                            Ok(()) => {
                                sent.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(delivery.notification.id)
                            }
                            Err(error) => {
                                if let Err(e) = self.email_failed(delivery, error).await {
                                    tracing::warn!(error = %format!("{e:#}"), "recording an e-mail attempt failed; its lease will expire");
                                }
                            }
                        }
                    }
                }
            })
            .await;
        let sent = sent.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.state.store.emails_sent(&sent, self.now()).await?;
        Ok(count)
    }

    /// Waits until no sender round is running. A round holds the deliveries it claimed until it
    /// records them, so one that is still running hides them from [`Notifier::send_due_once`]
    /// called meanwhile: whoever drives the dispatcher by hand waits for this before concluding
    /// that nothing is left.
    pub async fn quiet(&self) {
        let mut rounds = self.rounds_in_flight.subscribe();
        // The sender is owned by `self`, so it is not dropped while this waits.
        let _ = rounds.wait_for(|&n| n == 0).await;
    }

    /// The number of sender rounds running now.
    pub fn rounds_in_flight(&self) -> usize {
        *self.rounds_in_flight.borrow()
    }

    /// The e-mail a delivery sends, or `None` when it is not to be sent (recorded here).
    async fn email_for(
        &self,
        delivery: &DueDelivery,
        recipients: &Recipients,
    ) -> anyhow::Result<Option<OutgoingEmail>> {
        let n = &delivery.notification;
        let Some(user) = recipients.accounts.get(&n.user_id).filter(|u| u.active) else {
            self.state.store.email_skipped(n.id, "the account is disabled or deleted").await?;
            return Ok(None);
        };
        let payload: NotificationPayload = serde_json::from_value(n.payload.clone())?;
        // Preferences are checked again at sending time: turning e-mail off also stops what was
        // already queued.
        if !recipients.allows(user.id, payload.kind(), Channel::Email) {
            self.state.store.email_skipped(n.id, "e-mail turned off by the user").await?;
            return Ok(None);
        }
        Ok(Some(OutgoingEmail {
            event_id: n.event_id,
            to: Recipient { user_id: user.id, name: user.display_name.clone(), address: user.email.clone() },
            lang: user.language,
            rendered: render(&payload, user.language, &self.config.base_url),
        }))
    }

    /// Records a failed attempt: when to try again, or parked when that was the last.
    async fn email_failed(&self, delivery: &DueDelivery, error: achex_notification::MailError) -> anyhow::Result<()> {
        let n = &delivery.notification;
        let attempts = u32::try_from(delivery.attempts).unwrap_or(0) + 1;
        let permanent = matches!(error, achex_notification::MailError::Permanent(_));
        let retry_at = if permanent {
            None
        } else {
            self.config
                .retry
                .next_attempt_after(attempts, n.event_id)
                .map(|wait| self.now() + Duration::from_std(wait).unwrap_or(Duration::hours(1)))
        };
        tracing::warn!(notification = %n.id, attempts, parked = retry_at.is_none(), %error, "e-mail not sent");
        self.state.store.email_failed(n.id, &error.to_string(), retry_at).await?;
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Clock work

    /// Reminds the registered bidders of every live lot that ends within the configured time.
    pub async fn remind_once(&self) -> anyhow::Result<usize> {
        let now = self.now();
        let mut derived = Vec::new();
        let mut reminded = Vec::new();
        for lot in self.state.store.open_auctions(None).await? {
            let live = matches!(lot.summary.status, Status::Live | Status::Closing | Status::FreeQuote);
            if !live || lot.summary.ends_at <= now || lot.summary.ends_at - now > self.config.ending_soon {
                continue;
            }
            if self.reminded.lock().await.contains(&lot.id) {
                continue;
            }
            // The whole log, into a memory of its own: the fan-out's memory of this lot may be
            // at another position.
            let mut lots = HashMap::new();
            self.remember(&mut lots, lot.id, u64::MAX / 2).await?;
            let memory = lots.get(&lot.id).context("lot memory")?;
            reminded.push(lot.id);
            // One reminder per lot and person, whatever extensions happen afterwards.
            let event_id = derived_id(&[lot.id.as_uuid().as_bytes(), b"ending_soon"]);
            let mut people: Vec<UserId> = memory.bidders.values().copied().collect();
            for watcher in self.state.store.auction_watchers(lot.id).await? {
                if !people.contains(&watcher) {
                    people.push(watcher);
                }
            }
            for user in people {
                derived.push((
                    user,
                    NotificationPayload::AuctionEndingSoon {
                        auction_id: lot.id,
                        listing_title: memory.title.clone(),
                        ends_at: lot.summary.ends_at,
                    },
                    event_id,
                ));
            }
        }
        let sent = self.insert_derived(derived).await?;
        // Only once the reminders are stored; the inserts are idempotent if this is cut short.
        self.reminded.lock().await.extend(reminded);
        Ok(sent)
    }

    async fn insert_derived(&self, derived: Vec<(UserId, NotificationPayload, Uuid)>) -> anyhow::Result<usize> {
        if derived.is_empty() {
            return Ok(0);
        }
        let (notifications, recipients) = self.with_channels(derived).await?;
        let claim = self.email_claim();
        let recorded = self.state.store.insert_notifications(&notifications, self.now(), claim).await?;
        self.after_commit(&notifications, &recorded, claim, &recipients);
        Ok(recorded.fresh.len())
    }

    /// Matches new and changed public listings against saved searches: at once for `immediate`
    /// searches, in one digest a day for `daily` ones. "Changed" is an auction changing phase (the
    /// only change a public listing undergoes): a search for `auction=live` starts matching a
    /// listing when its lot opens, and anyone following a topic hears that a lot is now biddable.
    pub async fn alert_once(&self) -> anyhow::Result<usize> {
        let now = self.now();
        let store = &self.state.store;
        let newest = store.newest_publication().await?.max(store.newest_auction_change().await?);
        let mut sent = 0;
        {
            let mut seen = self.newest_change_seen.lock().await;
            if newest.is_some() && *seen != newest {
                // Everything committed so far must be searchable before it is matched.
                self.indexer.wait_until_current().await?;
                for search in store.saved_searches_with_alert("immediate").await? {
                    sent += self.alert(&search, false, now).await?;
                }
                *seen = newest;
            }
        }
        let digest_due = now.hour() >= self.config.digest_hour;
        let today = now.date_naive();
        for search in store.saved_searches_with_alert("daily").await? {
            let last = search.last_alerted_at.unwrap_or(search.created_at);
            if digest_due && last.date_naive() < today {
                sent += self.alert(&search, true, now).await?;
            }
        }
        Ok(sent)
    }

    async fn alert(&self, search: &SavedSearch, digest: bool, now: DateTime<Utc>) -> anyhow::Result<usize> {
        let watermark = search.last_alerted_at.unwrap_or(search.created_at);
        let params: SearchParams = serde_json::from_value(search.query.clone())?;
        let Ok(mut query) = params.to_query() else { return Ok(0) };
        query.sort = Sort::Newest;
        query.page = 1;
        query.per_page = 50;
        let store = &self.state.store;

        // New: the newest matches, published after the watermark.
        let results = self.state.search.search(&query).await?;
        let ids: Vec<ListingId> = results.hits.iter().map(|h| h.listing_id).collect();
        let mut matched: Vec<(DateTime<Utc>, MatchedListing)> = store
            .listings_by_ids(&ids)
            .await?
            .into_iter()
            .filter(|l| l.status == ListingStatus::Published)
            .filter_map(|l| {
                let at = l.published_at.filter(|at| *at > watermark)?;
                Some((at, MatchedListing::new_listing(l.id, l.content.title)))
            })
            .collect();

        // Changed: listings published earlier whose auction changed phase after the watermark and
        // that the query matches now. The index answers which of them match, restricted to them.
        let fresh: HashSet<ListingId> = matched.iter().map(|(_, m)| m.listing_id).collect();
        let changes: HashMap<ListingId, (DateTime<Utc>, ListingChange)> = store
            .auction_changes_after(watermark, 200)
            .await?
            .into_iter()
            .filter_map(|(listing, at, phase)| Some((ListingId(listing), (at, listing_change(&phase)?))))
            .filter(|(listing, _)| !fresh.contains(listing))
            .collect();
        if !changes.is_empty() {
            query.filters.listing_ids = Some(changes.keys().copied().collect());
            query.per_page = 100;
            let results = self.state.search.search(&query).await?;
            let ids: Vec<ListingId> = results.hits.iter().map(|h| h.listing_id).collect();
            for l in store.listings_by_ids(&ids).await?.into_iter().filter(|l| l.status == ListingStatus::Published) {
                if let Some((at, change)) = changes.get(&l.id) {
                    matched.push((
                        *at,
                        MatchedListing { listing_id: l.id, title: l.content.title, change: Some(*change) },
                    ));
                }
            }
        }

        matched.sort_by_key(|(at, m)| (std::cmp::Reverse(*at), m.listing_id));
        let new_watermark = if digest { Some(now) } else { matched.first().map(|(at, _)| *at) };
        if matched.is_empty() {
            if let Some(at) = new_watermark.filter(|_| digest) {
                store.mark_saved_search_alerted(search.id, at).await?;
            }
            return Ok(0);
        }
        // The notification's id comes from what it reports: deriving the same alert twice (two
        // processes, or a crash before the watermark moved) stores it once, while a later change
        // to a listing already reported is a new alert.
        let mut key: Vec<u8> = search.id.as_uuid().as_bytes().to_vec();
        for (at, m) in &matched {
            key.extend_from_slice(m.listing_id.as_uuid().as_bytes());
            if m.change.is_some() {
                key.extend_from_slice(&at.timestamp_micros().to_be_bytes());
            }
        }
        let event_id = derived_id(&[b"saved_search", &key]);
        let listings: Vec<MatchedListing> = matched.into_iter().map(|(_, m)| m).collect();
        let payload = if digest {
            NotificationPayload::SavedSearchDigest {
                saved_search_id: search.id,
                saved_search_name: search.name.clone(),
                listings,
            }
        } else {
            NotificationPayload::SavedSearchMatch {
                saved_search_id: search.id,
                saved_search_name: search.name.clone(),
                listings,
            }
        };
        let sent = self.insert_derived(vec![(search.user_id, payload, event_id)]).await?;
        if let Some(at) = new_watermark {
            store.mark_saved_search_alerted(search.id, at).await?;
        }
        Ok(sent)
    }

    // -----------------------------------------------------------------------------------------

    /// Runs the three loops until `shutdown` fires. Errors are logged and retried: every loop
    /// picks up where the database says it is.
    pub fn spawn(self: Arc<Self>, shutdown: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        let fan_out = {
            let me = self.clone();
            let mut shutdown = shutdown.clone();
            tokio::spawn(async move {
                let mut signal = me.state.store.outbox_signal();
                loop {
                    signal.mark_unchanged();
                    if did_work(me.fan_out_once().await, "notification fan-out") {
                        continue;
                    }
                    tokio::select! {
                        _ = signal.changed() => {}
                        _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            })
        };
        // Two sender rounds overlap: while one claims and records, the other's mail is on the
        // wire (the permits keep the mail in flight at `senders`).
        let mail: Vec<_> = (0..MAIL_LANES)
            .map(|_| {
                let me = self.clone();
                let mut shutdown = shutdown.clone();
                tokio::spawn(async move {
                    loop {
                        if did_work(me.send_due_once().await, "e-mail sending") {
                            // There may be more than this lane can take: wake another.
                            me.mail_due.notify_one();
                            continue;
                        }
                        tokio::select! {
                            _ = me.mail_due.notified() => {}
                            _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                            _ = shutdown.changed() => return,
                        }
                    }
                })
            })
            .collect();
        let clock = {
            let me = self;
            let mut shutdown = shutdown;
            tokio::spawn(async move {
                loop {
                    if let Err(e) = me.remind_once().await {
                        tracing::warn!(error = %format!("{e:#}"), "auction reminders failed; will retry");
                    }
                    if let Err(e) = me.alert_once().await {
                        tracing::warn!(error = %format!("{e:#}"), "saved-search alerts failed; will retry");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_millis(500)) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            })
        };
        let mut tasks = vec![fan_out, clock];
        tasks.extend(mail);
        tasks
    }
}

/// Counts a sender round as finished when it ends, however it ends.
struct RoundGuard<'a>(&'a watch::Sender<usize>);

impl Drop for RoundGuard<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// Whether a round of a dispatcher loop handled anything (then it goes again at once). A failed
/// round is logged and counts as idle: the loop retries after its pause.
fn did_work(round: anyhow::Result<usize>, what: &str) -> bool {
    match round {
        Ok(n) => n > 0,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "{what} failed; will retry");
            false
        }
    }
}

/// Takes one log entry into a lot's memory without deriving anything (catching up).
fn learn(memory: &mut LotMemory, entry: &LogEntry) {
    let _ = derive_entry(memory, AuctionId::from(Uuid::nil()), Uuid::nil(), entry);
}

/// Updates the memory with one log entry and returns who must hear about it.
fn derive_entry(
    memory: &mut LotMemory,
    auction: AuctionId,
    outbox_event: Uuid,
    entry: &LogEntry,
) -> Vec<(UserId, NotificationPayload, Uuid)> {
    let mut out = Vec::new();
    let title = memory.title.clone();
    let id = |n: usize, what: &[u8]| {
        derived_id(&[outbox_event.as_bytes(), &entry.index.to_be_bytes(), &(n as u64).to_be_bytes(), what])
    };
    if let Command::PlaceBid { bidder, amount, max_amount, .. } = &entry.command
        && entry.events.iter().any(|e| matches!(e.kind, EventKind::BidAccepted { .. }))
    {
        memory.max.insert(*bidder, max_amount.unwrap_or(*amount));
    }
    for (n, event) in entry.events.iter().enumerate() {
        match &event.kind {
            EventKind::BidderRegistered { bidder } => {
                if let Command::Register { bidder: user, .. } = &entry.command {
                    memory.bidders.insert(bidder.as_str().to_owned(), *user);
                }
            }
            EventKind::DepositConfirmed { bidder, amount } => {
                if let Some(&user) = memory.bidders.get(bidder.as_str()) {
                    out.push((
                        user,
                        NotificationPayload::DepositConfirmed {
                            auction_id: auction,
                            listing_title: title.clone(),
                            amount: *amount,
                        },
                        id(n, b"deposit_confirmed"),
                    ));
                }
            }
            EventKind::PhaseChanged { status } => {
                if matches!(status, Status::Live | Status::FreeQuote) {
                    for &user in memory.bidders.values() {
                        out.push((
                            user,
                            NotificationPayload::AuctionStarting {
                                auction_id: auction,
                                listing_title: title.clone(),
                                starts_at: event.at,
                            },
                            id(n, b"starting"),
                        ));
                    }
                }
            }
            EventKind::Extended { ends_at, .. } => memory.ends_at = Some(*ends_at),
            EventKind::BidAccepted { bidder, current_price, leader, .. } => {
                let previous = memory.leader.clone();
                let leader = leader.as_ref().map(|l| l.as_str().to_owned());
                let ends_at = memory.ends_at.unwrap_or(event.at);
                let outbid = |user: UserId, memory: &LotMemory| {
                    current_price.map(|price| NotificationPayload::Outbid {
                        auction_id: auction,
                        listing_title: title.clone(),
                        your_max: memory.max.get(&user).copied().unwrap_or(price),
                        current_price: price,
                        leader_code: leader.clone(),
                        ends_at,
                    })
                };
                // The leader before this bid lost the lead to someone else.
                if let (Some(old), Some(new)) = (&previous, &leader)
                    && old != new
                    && let Some(&user) = memory.bidders.get(old)
                    && let Some(payload) = outbid(user, memory)
                {
                    out.push((user, payload, id(n, b"outbid_leader")));
                }
                // The bidder was beaten at once by a standing proxy bid.
                if let Some(new) = &leader
                    && new != bidder.as_str()
                    && previous.as_deref() != Some(bidder.as_str())
                    && let Some(&user) = memory.bidders.get(bidder.as_str())
                    && let Some(payload) = outbid(user, memory)
                {
                    out.push((user, payload, id(n, b"outbid_bidder")));
                }
                if leader.is_some() {
                    memory.leader = leader;
                }
            }
            EventKind::Closed { outcome } => {
                let (winner, price) = match outcome {
                    Outcome::Sold { winner, price } => (Some(winner.as_str().to_owned()), Some(*price)),
                    _ => (None, None),
                };
                for (code, &user) in &memory.bidders {
                    let payload = if Some(code) == winner.as_ref() {
                        NotificationPayload::AuctionWon {
                            auction_id: auction,
                            listing_title: title.clone(),
                            price: price.unwrap_or(Money::new(0, achex_core::Currency::Cny)),
                        }
                    } else {
                        NotificationPayload::AuctionLost {
                            auction_id: auction,
                            listing_title: title.clone(),
                            final_price: price,
                        }
                    };
                    out.push((user, payload, id(n, b"closed")));
                }
            }
            EventKind::OfferedToRunnerUp { bidder, price } => {
                if let Some(&user) = memory.bidders.get(bidder.as_str()) {
                    out.push((
                        user,
                        NotificationPayload::AuctionWon {
                            auction_id: auction,
                            listing_title: title.clone(),
                            price: *price,
                        },
                        id(n, b"runner_up"),
                    ));
                }
            }
            EventKind::DepositReleased { bidder, amount } => {
                if let Some(&user) = memory.bidders.get(bidder.as_str()) {
                    out.push((
                        user,
                        NotificationPayload::DepositReleased {
                            auction_id: auction,
                            listing_title: title.clone(),
                            amount: *amount,
                        },
                        id(n, b"deposit_released"),
                    ));
                }
            }
            EventKind::DepositForfeited { bidder, amount } => {
                if let Some(&user) = memory.bidders.get(bidder.as_str()) {
                    out.push((
                        user,
                        NotificationPayload::DepositForfeited {
                            auction_id: auction,
                            listing_title: title.clone(),
                            amount: *amount,
                        },
                        id(n, b"deposit_forfeited"),
                    ));
                }
            }
            EventKind::SealedBidsRevealed { .. }
            | EventKind::DepositCredited { .. }
            | EventKind::WinnerDefaulted { .. } => {}
        }
    }
    out
}
