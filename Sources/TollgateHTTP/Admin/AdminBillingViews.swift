import TollgateCore

// Request and response bodies of the refund and usage endpoints: camelCase keys, like the rest of the admin API
// (`AdminViews`, `AdminPolicyView`). Values such as states and error codes stay snake_case (`pending_payout`).

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
    static let fields: Set<String> = ["payoutTransaction"]
    var payoutTransaction: String
}

struct RefundView: Encodable, Hashable {
    var refund: Refund

    enum CodingKeys: String, CodingKey {
        case id, correlationId, kind, state, clientId, payer, resource, amount, asset, network, unit, reason, actor, automatic
        case createdAtMillis, closedAtMillis, payoutTransaction
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
        /// Atomic amounts refunded for these flows (pending or paid out), per asset.
        var refunded: [String: String]
        /// Package units credited back for these flows.
        var creditedUnits: Int

        init(_ summary: UsageSummary) {
            resource = summary.resource
            unit = summary.unit
            events = summary.events
            quantity = summary.quantity
            paid = summary.paid
            refunded = summary.refunded
            creditedUnits = summary.creditedUnits
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
