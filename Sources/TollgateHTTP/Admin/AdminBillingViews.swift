import TollgateCore

/// Request and response bodies of the refund and usage endpoints (snake_case, as their request fields).

/// `POST /admin/refunds`.
struct RefundRequestBody: AdminRequestBody {
    static let fields: Set<String> = ["correlation_id", "amount", "reason"]
    var correlationId: String
    /// Null or absent: everything not yet refunded.
    var amount: String?
    var reason: String

    enum CodingKeys: String, CodingKey {
        case correlationId = "correlation_id"
        case amount, reason
    }
}

/// `POST /admin/refunds/{id}/close`.
struct RefundCloseBody: AdminRequestBody {
    static let fields: Set<String> = ["payout_transaction"]
    var payoutTransaction: String

    enum CodingKeys: String, CodingKey {
        case payoutTransaction = "payout_transaction"
    }
}

struct RefundView: Encodable, Hashable {
    var refund: Refund

    enum CodingKeys: String, CodingKey {
        case id, kind, state, payer, resource, amount, asset, network, unit, reason, actor, automatic
        case correlationId = "correlation_id", clientId = "client_id", createdAtMillis = "created_at_millis"
        case closedAtMillis = "closed_at_millis", payoutTransaction = "payout_transaction"
    }

    func encode(to encoder: any Encoder) throws {
        var out = encoder.container(keyedBy: CodingKeys.self)
        try out.encode(refund.id, forKey: .id)
        try out.encode(refund.correlationId, forKey: .correlationId)
        try out.encode(refund.kind.rawValue, forKey: .kind)
        try out.encode(refund.state.rawValue, forKey: .state)
        try out.encode(refund.clientId, forKey: .clientId)
        try out.encode(refund.payer, forKey: .payer)
        try out.encode(refund.resource, forKey: .resource)
        try out.encode(refund.amount, forKey: .amount)
        try out.encode(refund.asset, forKey: .asset)
        try out.encode(refund.network, forKey: .network)
        try out.encode(refund.unit, forKey: .unit)
        try out.encode(refund.reason, forKey: .reason)
        try out.encode(refund.actor, forKey: .actor)
        try out.encode(refund.automatic, forKey: .automatic)
        try out.encode(refund.createdAtMillis, forKey: .createdAtMillis)
        try out.encodeIfPresent(refund.closedAtMillis, forKey: .closedAtMillis)
        try out.encodeIfPresent(refund.payoutTransaction, forKey: .payoutTransaction)
    }
}

/// `GET /admin/refunds`: newest first.
struct RefundListView: Encodable, Hashable {
    var refunds: [RefundView]
}

/// `GET /admin/usage`: usage per resource and unit over `[from, to)`.
struct UsageView: Encodable, Hashable {
    struct Summary: Encodable, Hashable {
        var resource: String
        var unit: String
        var events: Int
        var quantity: Int
        /// Atomic amounts paid, per asset.
        var paid: [String: String]

        init(_ summary: UsageSummary) {
            resource = summary.resource
            unit = summary.unit
            events = summary.events
            quantity = summary.quantity
            paid = summary.paid
        }
    }

    /// Absent: every client.
    var client: String?
    var from: String
    var to: String
    var usage: [Summary]
}

/// `GET /admin/usage/balances`: units left per package.
struct BalancesView: Encodable, Hashable {
    var client: String
    var balances: [String: Int]
}
