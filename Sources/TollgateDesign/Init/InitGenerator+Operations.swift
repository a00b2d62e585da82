import TollgateCore

extension InitGenerator {
    func writeLimits(_ plan: InitPlan, _ w: inout InitYAMLWriter) {
        w.blank()
        w.comment("5. Limits, per client id, payer address and IP prefix. Before payment: `unpaid` (requests answered 402).",
                  "After payment: `paid` (requests carrying a proof) and `invalid` (refused proofs, checked before any",
                  "decoding, so a flood of forged proofs never reaches the facilitator). 429 with Retry-After.")
        w.open("limits")
        for (name, rate) in [("unpaid", plan.unpaid), ("paid", plan.paid), ("invalid", plan.invalid)] {
            switch rate {
            case .off: w.raw(name, "off", indent: 2)
            case .limit(let perSecond, let burst):
                w.raw(name, InitYAMLWriter.flowMap([("rate_per_second", Self.number(perSecond)), ("burst", String(burst))]), indent: 2)
            }
        }
        if let cap = plan.spendCap {
            w.comment("At most \(cap.max) \(plan.asset.id) per \(cap.per) per \(cap.period); a payment past it is 403 spend_cap_exceeded, never settled.")
            w.open("spend_caps")
            w.raw("- per", cap.per, indent: 2)
            w.raw("period", cap.period, indent: 4)
            w.scalar("asset", plan.asset.id, indent: 4)
            w.raw("max", InitYAMLWriter.quoted(cap.max), indent: 4)
        }
        if let quota = plan.quota {
            w.comment("At most \(quota.max) \(plan.unit.configurationUnit)(s) per \(quota.per) per \(quota.period); past it: 403 quota_exceeded, never settled.")
            w.open("quotas")
            w.raw("- per", quota.per, indent: 2)
            w.raw("period", quota.period, indent: 4)
            w.raw("unit", plan.unit.configurationUnit, indent: 4)
            w.raw("max", String(quota.max), indent: 4)
        }
    }

    func writeAudit(_ plan: InitPlan, _ w: inout InitYAMLWriter) {
        w.blank()
        w.comment("6. The audit log: every stage of every flow, denials included, hash-chained (docs/audit.md);",
                  "`tollgate trace <correlation id>` shows where a flow stopped.")
        w.open("audit")
        w.raw("denials", plan.auditDenials, indent: 2, comment: "401, 403, 429 refusals are audited too (none is refused: lint TG114)")
        if let days = plan.retentionDays {
            w.comment("Events older than \(days) days are archived to archive_dir, then deleted from the live table.", indent: 2)
            w.raw("retention_days", String(days), indent: 2)
            w.scalar("archive_dir", plan.archiveDir, indent: 2)
        } else {
            w.comment("No retention_days: every event is kept.", indent: 2)
        }
    }

    func writeFailures(_ plan: InitPlan, _ w: inout InitYAMLWriter) {
        w.blank()
        w.comment("7. Failures. Facilitators are tried in this order: a transport failure moves on to the next",
                  "(failover). When none answers, paid requests get 503 with Retry-After: never a 402, never free access.")
        if plan.facilitators == InitDefaults.facilitators {
            w.comment("http://127.0.0.1:8404 is the development facilitator: `tollgate facilitator --dev` (test networks only).")
        }
        let timeouts = plan.timeouts
        if timeouts.lowered {
            w.comment("Each call times out after \(timeouts.facilitatorSeconds) s, not the usual \(InitTimeouts.facilitatorSeconds) s: see upstream.timeout_seconds.")
        }
        w.open("facilitators")
        for url in plan.facilitators {
            w.item("url", url, indent: 2)
            w.raw("timeout_seconds", String(timeouts.facilitatorSeconds), indent: 4)
            w.raw("networks", InitYAMLWriter.flowList([plan.asset.network]), indent: 4)
        }
        w.blank()
        w.comment("Refunds: a payment settled for an answer that was then not delivered (settle: before and the upstream",
                  "failed, or the connection broke after settlement and nobody came back for the answer) gets a refund record",
                  "(pending_payout, header Tollgate-Refund) when automatic; whoever pays it out closes it:",
                  "`tollgate refund close rf_... --tx 0x...`.")
        w.open("refunds")
        w.raw("automatic", plan.refundsAutomatic ? "true" : "false", indent: 2)
        if let contact = plan.payoutContact { w.scalar("payout_contact", contact, indent: 2) }
        if let admin = plan.admin {
            w.blank()
            w.comment("The operator's admin API (revocations, incident switch, spend), on loopback only. Its bearer token",
                      "lives in the environment: export \(admin.tokenEnv)=$(openssl rand -hex 32).")
            w.open("admin")
            w.scalar("listen", admin.listen, indent: 2)
            w.raw("token", InitYAMLWriter.flowMap("env", admin.tokenEnv), indent: 2)
        }
    }

    /// 20 → "20", 0.5 → "0.5".
    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
