//! Accounts and demo data: `achex admin create` and `achex seed --demo`.

use crate::demo::{DemoCatalogue, demo_catalogue};
use crate::settings::Settings;
use achex_api::auth::{PasswordHasher, random_code};
use achex_bidding_engine::engine::{Answer, Engine, EngineConfig, LotRecord, Request};
use achex_bidding_engine::{Auction, AuctionConfig, Command, Format, Increment, SoftClose};
use achex_core::{AuctionId, Clock, Lang, Money, OrganizationId, OrganizationKind, Role, UserId};
use achex_listing::{Action, Listing};
use achex_store::{NewOrganization, NewUser, Store, StoreError, User};
use anyhow::Context;
use chrono::Duration;
use std::sync::Arc;

/// Creates a platform account (admin or reviewer), or resets its password and role if it exists.
pub async fn create_platform_user(
    store: &Store,
    clock: &dyn Clock,
    email: &str,
    password: &str,
    role: Role,
) -> anyhow::Result<User> {
    anyhow::ensure!(matches!(role, Role::Admin | Role::Reviewer), "platform accounts are admin or reviewer");
    anyhow::ensure!(achex_listing::validation::looks_like_email(email), "{email:?} is not an e-mail address");
    anyhow::ensure!(password.chars().count() >= 10, "the password needs at least 10 characters");
    let hash = PasswordHasher::new().hash(password).map_err(|e| anyhow::anyhow!("{e}"))?;
    match store.user_by_email(email).await {
        Ok(user) => {
            store.set_password_hash(user.id, hash, role).await?;
            Ok(store.user(user.id).await?)
        }
        Err(StoreError::NotFound) => {
            let platform = store.platform_organization(clock.now()).await?;
            let new_user = NewUser {
                email: email.to_lowercase(),
                display_name: email.split('@').next().unwrap_or(email).to_owned(),
                password_hash: hash,
                role,
                language: Lang::Zh,
            };
            Ok(store.create_user(platform.id, new_user, clock.now()).await?)
        }
        Err(e) => Err(e.into()),
    }
}

/// A demo login printed at start-up.
#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub role: Role,
    pub email: String,
    pub organization: String,
}

#[derive(Debug, Clone)]
pub struct SeedReport {
    pub created: bool,
    pub listings: usize,
    pub logins: Vec<DemoLogin>,
}

/// The fixed demo accounts besides one staff member per institute.
const ENTERPRISES: [(&str, &str); 3] = [
    ("宁德新能科技有限公司", "buyer@ningde-energy.example"),
    ("Shenzhen Brightpath Robotics Co., Ltd.", "buyer@brightpath.example"),
    ("华东智能制造集团", "buyer@east-china-mfg.example"),
];

/// Fills an empty database with demo organisations, accounts and published listings. Does
/// nothing (and says so) when listings already exist, so `make run` can call it on every start.
pub async fn seed_demo(store: &Store, clock: Arc<dyn Clock>, settings: &Settings) -> anyhow::Result<SeedReport> {
    let clock_ref = clock.as_ref();
    let password = settings.demo.password.expose().to_owned();
    let mut logins = vec![
        DemoLogin { role: Role::Admin, email: "admin@achex.example".into(), organization: "achex platform".into() },
        DemoLogin {
            role: Role::Reviewer,
            email: "reviewer@achex.example".into(),
            organization: "achex platform".into(),
        },
    ];
    if store.has_listings().await? {
        let count = store.count_listings(achex_listing::ListingStatus::Published).await? as usize;
        return Ok(SeedReport { created: false, listings: count, logins: existing_logins(store, logins).await });
    }
    let catalogue: DemoCatalogue = demo_catalogue(&settings.demo.data_dir, settings.demo.listings, settings.demo.seed)
        .with_context(|| {
            format!(
                "cannot read the demo corpora in {} (set ACHEX__DEMO__DATA_DIR to the shared/data folder)",
                settings.demo.data_dir.display()
            )
        })?;
    let hasher = PasswordHasher::new();
    let hash = hasher.hash(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let now = clock.now();
    let new_user = |email: &str, name: &str, role: Role| NewUser {
        email: email.to_owned(),
        display_name: name.to_owned(),
        password_hash: hash.clone(),
        role,
        language: Lang::Zh,
    };

    create_platform_user(store, clock_ref, "admin@achex.example", &password, Role::Admin).await?;
    let reviewer = create_platform_user(store, clock_ref, "reviewer@achex.example", &password, Role::Reviewer).await?;

    let mut institute_ids = Vec::new();
    for (i, institute) in catalogue.institutes.iter().enumerate() {
        let email = format!("staff{}@institute{}.example", 1, i + 1);
        let org = NewOrganization {
            name: institute.name_zh.clone(),
            kind: OrganizationKind::Institute,
            invite_code: random_code(18),
            verified: true,
        };
        let (org, user) = store
            .create_organization_with_user(
                org,
                new_user(&email, &format!("{} 成果转化办公室", institute.name_zh), Role::InstituteStaff),
                now,
            )
            .await?;
        logins.push(DemoLogin { role: Role::InstituteStaff, email, organization: org.name.clone() });
        institute_ids.push((org.id, user.id));
    }
    let mut enterprises = Vec::new();
    for (name, email) in ENTERPRISES {
        let org = NewOrganization {
            name: name.to_owned(),
            kind: OrganizationKind::Enterprise,
            invite_code: random_code(18),
            verified: true,
        };
        let (org, user) =
            store.create_organization_with_user(org, new_user(email, "技术采购", Role::EnterpriseMember), now).await?;
        enterprises.push((user.id, org.id));
        logins.push(DemoLogin { role: Role::EnterpriseMember, email: email.to_owned(), organization: name.to_owned() });
    }
    let organizer = NewOrganization {
        name: "国家技术转移东部中心".into(),
        kind: OrganizationKind::Organizer,
        invite_code: random_code(18),
        verified: true,
    };
    store
        .create_organization_with_user(organizer, new_user("events@ttc-east.example", "活动组织", Role::Organizer), now)
        .await?;
    logins.push(DemoLogin {
        role: Role::Organizer,
        email: "events@ttc-east.example".into(),
        organization: "国家技术转移东部中心".into(),
    });

    // Each listing goes through the same lifecycle a real one does, so its audit trail is real.
    let mut rows = Vec::with_capacity(catalogue.listings.len());
    for demo in catalogue.listings {
        let (institute_id, staff_id) = institute_ids[demo.institute];
        let published_at =
            now - Duration::days(i64::from(demo.published_days_ago)) - Duration::minutes(rows.len() as i64);
        let created_at = published_at - Duration::days(3);
        let mut content = demo.content;
        content.normalize();
        let (mut listing, created): (Listing, _) = Listing::new_draft(institute_id, staff_id, content, created_at);
        let submitted = listing.apply(Action::Submit, staff_id, None, created_at + Duration::hours(2))?;
        let approved = listing.apply(Action::Approve, reviewer.id, None, published_at)?;
        rows.push((listing, vec![created, submitted, approved]));
    }
    let count = rows.len();
    store.insert_listings(&rows).await?;
    let auctioned: Vec<&Listing> = rows.iter().map(|(l, _)| l).take(3).collect();
    demo_auctions(store, clock, &auctioned, &enterprises).await?;
    Ok(SeedReport { created: true, listings: count, logins })
}

/// Three lots on the newest listings, so the demo shows the auction room in each state: one
/// live with a bidding history (a proxy bid answering a raise; one bidder still waiting for its
/// deposit), one live without bids closing in a few hours, and one upcoming. They are created
/// and bid on through the bidding engine and its log, exactly as the API does it; the server's
/// own engine takes them over from the log.
async fn demo_auctions(
    store: &Store,
    clock: Arc<dyn Clock>,
    listings: &[&Listing],
    enterprises: &[(UserId, OrganizationId)],
) -> anyhow::Result<()> {
    let [first, second, third] = listings else { return Ok(()) };
    let [(e1, o1), (e2, o2), (e3, o3)] = enterprises else { return Ok(()) };
    let now = clock.now();
    let yuan = |y: i64| Money::cny(y * 100);
    let lot = |listing: &Listing, start: i64, step: i64, starts: Duration, ends: Duration, reserve: Option<i64>| {
        let config = AuctionConfig {
            format: Format::English,
            seller: listing.institute_id,
            starting_price: yuan(start),
            increment: Some(Increment::Fixed(yuan(step))),
            reserve_price: reserve.map(yuan),
            deposit: yuan(start / 10),
            starts_at: now + starts,
            ends_at: now + ends,
            free_quote_until: None,
            extension: Some(SoftClose { window_secs: 300, extend_secs: 300, max_extensions: Some(12) }),
            dutch: None,
        };
        (LotRecord { auction: AuctionId::new(), listing: listing.id, config }, listing.created_by)
    };
    let lots = [
        lot(first, 300_000, 10_000, -Duration::hours(2), Duration::days(3), Some(400_000)),
        lot(second, 80_000, 2_000, -Duration::hours(1), Duration::hours(6), None),
        lot(third, 1_200_000, 50_000, Duration::days(1), Duration::days(4), None),
    ];
    for (record, created_by) in &lots {
        let auction = Auction::new(record.config.clone()).map_err(|e| anyhow::anyhow!("demo lot: {e:?}"))?;
        store.create_auction(record, *created_by, &auction.public_view_at(now), now).await?;
    }

    let engine = Engine::new(Arc::new(store.clone()), clock, EngineConfig::default());
    let live = lots[0].0.auction;
    let run = |command: Command| {
        let engine = engine.clone();
        async move {
            match engine.submit(live, Request::new(command.clone())).await {
                Ok(Answer::Accepted(_)) => Ok(()),
                Ok(Answer::Rejected(r)) => Err(anyhow::anyhow!("demo {command:?} refused: {}", r.code())),
                Err(e) => Err(anyhow::anyhow!("demo {command:?}: {e}")),
            }
        }
    };
    for (bidder, organization) in [(e1, o1), (e2, o2), (e3, o3)] {
        run(Command::Register { bidder: *bidder, organization: *organization }).await?;
    }
    // What the organizer does through `confirm-deposit`; the third bidder is left waiting.
    for bidder in [e1, e2] {
        run(Command::ConfirmDeposit { bidder: *bidder }).await?;
    }
    let bid = |bidder: &UserId, organization: &OrganizationId, amount: i64, max: Option<i64>| Command::PlaceBid {
        bidder: *bidder,
        organization: *organization,
        amount: yuan(amount),
        max_amount: max.map(yuan),
    };
    run(bid(e1, o1, 300_000, None)).await?;
    run(bid(e2, o2, 310_000, Some(360_000))).await?;
    run(bid(e1, o1, 330_000, None)).await?;
    Ok(())
}

/// When the demo was seeded before, list the logins that still exist.
async fn existing_logins(store: &Store, mut logins: Vec<DemoLogin>) -> Vec<DemoLogin> {
    let mut extra = Vec::new();
    for i in 1..=20 {
        let email = format!("staff1@institute{i}.example");
        match store.user_by_email(&email).await {
            Ok(user) => {
                let organization = store.organization(user.organization_id).await.map(|o| o.name).unwrap_or_default();
                extra.push(DemoLogin { role: Role::InstituteStaff, email, organization });
            }
            Err(_) => break,
        }
    }
    logins.extend(extra);
    for (name, email) in ENTERPRISES {
        logins.push(DemoLogin { role: Role::EnterpriseMember, email: email.into(), organization: name.into() });
    }
    logins.push(DemoLogin {
        role: Role::Organizer,
        email: "events@ttc-east.example".into(),
        organization: "国家技术转移东部中心".into(),
    });
    logins
}
