extension InitPlan {
    struct LimitPart {
        var unpaid = InitAnswers.Rate.off, paid = InitAnswers.Rate.off, invalid = InitAnswers.Rate.off
        var spendCap: SpendCap?, quota: Quota?
    }

    // MARK: 5. limits

    static func limits(_ answers: InitAnswers, identified: Bool, decimals: Int, _ problems: inout InitProblems) -> LimitPart {
        let given = answers.limits
        var part = LimitPart()
        part.unpaid = problems.check { try InitCheck.rate(given.unpaid ?? InitDefaults.rate("unpaid"), field: "limits.unpaid") } ?? .off
        part.paid = problems.check { try InitCheck.rate(given.paid ?? InitDefaults.rate("paid"), field: "limits.paid") } ?? .off
        part.invalid = problems.check { try InitCheck.rate(given.invalid ?? InitDefaults.rate("invalid"), field: "limits.invalid") } ?? .off

        if let cap = given.spendCap {
            let maximum = problems.required(cap.max, "limits.spend_cap.max", "the most one spender may pay per period, e.g. 5.00") {
                try InitCheck.price($0, decimals: decimals, field: "limits.spend_cap.max", what: "the spend cap")
            }
            let per = problems.check { try InitCheck.spender(cap.per ?? InitDefaults.spendCapPer(answers), field: "limits.spend_cap.per") }
            let period = problems.check { try InitCheck.period(cap.period ?? InitDefaults.period, field: "limits.spend_cap.period") }
            if let per, per != "payer", !identified {
                problems.add(.conflict("limits.spend_cap.per", "anonymous payers are capped per paying address: use per payer "
                                       + "(per \(per) needs API keys or JWT)"))
            }
            if let maximum, let per, let period { part.spendCap = SpendCap(max: maximum, per: per, period: period) }
        }
        if let quota = given.quota {
            let maximum = problems.required(quota.max.map(String.init), "limits.quota.max", "the most units per period, e.g. 10000") {
                try InitCheck.integer($0, in: 1...1_000_000_000, field: "limits.quota.max", what: "the quota")
            }
            let per = problems.check { try InitCheck.quotaHolder(quota.per ?? "client", field: "limits.quota.per") }
            let period = problems.check { try InitCheck.period(quota.period ?? InitDefaults.period, field: "limits.quota.period") }
            if !identified {
                problems.add(.conflict("limits.quota", "quotas count per client or organisation; anonymous payers have neither "
                                       + "(use a spend cap per payer, or identify callers)"))
            }
            if let maximum, let per, let period { part.quota = Quota(max: maximum, per: per, period: period) }
        }
        return part
    }
}
