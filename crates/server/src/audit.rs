//! `achex audit-bids`: proves every bid log is intact and replays to the state it recorded.

use achex_bidding_engine::engine::{AuditFinding, audit};
use achex_core::AuctionId;
use achex_store::Store;

/// Audits one auction or all; prints a line per auction and returns how many failed.
pub async fn audit_bids(store: &Store, only: Option<AuctionId>) -> anyhow::Result<usize> {
    let ids = match only {
        Some(id) => vec![id],
        None => store.auction_ids().await?,
    };
    let mut failures = 0;
    for id in ids {
        let row = store.auction(id).await?;
        let entries = store.auction_log(id).await?;
        let report = audit(row.config.clone(), &entries);
        // The cached summary must agree with the replay too (same seq and outcome).
        let mut findings = report.findings.clone();
        let replayed_seq = report.final_state.as_ref().map_or(0, |s| s.seq);
        if replayed_seq != row.summary.seq || report.outcome != row.summary.outcome {
            findings.push(AuditFinding::Replay {
                index: entries.len() as u64,
                reason: format!(
                    "stored summary (seq {}) differs from the replay (seq {replayed_seq})",
                    row.summary.seq
                ),
            });
        }
        if findings.is_empty() {
            println!(
                "ok    {id}  {} commands, seq {replayed_seq}, outcome {}",
                report.entries,
                report.outcome.as_ref().map_or("open", |o| o.name())
            );
        } else {
            failures += 1;
            println!("FAIL  {id}  {findings:?}");
        }
    }
    Ok(failures)
}
