import TollgateCore

// Request and response bodies of the refund and usage endpoints: camelCase keys, like the rest of the admin API
// (`AdminViews`, `AdminPolicyView`). Values such as states and error codes stay snake_case (`pending_payout`).
// A refund and a usage summary are the ledger's own `Refund` and `UsageSummary`, encoded as they are: their
// property names are the keys of openapi.json's `Refund` and `Usage` items, and the CLI's JSON output
// (`tollgate refund list --format json`, `tollgate usage --json`) encodes the same types.

/// `POST /admin/refunds`.
struct RefundRequestBody: AdminRequestBody {
    static let fields: Set<String> = ["correlationId", "amount", "reason"]
    var correlationId: String
    /// Null or absent: everything not yet refunded.
    var amount: String?
    var reason: String
}

/// `POST /admin/refunds/{id}/close`.
struct RefundCloseBody: AdminRequestBody {
    static let fields: Set<String> = ["payoutTransaction", "batch"]
    var payoutTransaction: String
    /// One transaction paying several refunds.
    var batch: Bool?
}

/// `GET /admin/refunds`: newest first.
struct RefundListView: Encodable, Hashable {
    var refunds: [Refund]
}

/// `GET /admin/usage`: usage per resource and unit over `[from, to)`.
struct UsageView: Encodable, Hashable {
    /// Absent: every client.
    var client: String?
    var from: String
    var to: String
    var usage: [UsageSummary]
}

/// `GET /admin/usage/balances`: units left per package.
struct BalancesView: Encodable, Hashable {
    var client: String
    var balances: [String: Int]
}
