/// The flows a trace key leads to.
public struct TraceMatch: Sendable, Hashable {
    public var key: TraceKey
    /// What the key matched, by field (`correlation id`, `payer`, `transaction`, `nonce`), with the
    /// tables it was found in (`payment`, `proof_evidence`, `audit_event`).
    public var matchedAs: [String: [String]]
    /// Correlation ids, the flow with the latest event first, at most the limit asked.
    public var correlationIds: [String]
    /// How many flows matched in all.
    public var total: Int

    public init(key: TraceKey, matchedAs: [String: [String]], correlationIds: [String], total: Int) {
        self.key = key
        self.matchedAs = matchedAs
        self.correlationIds = correlationIds
        self.total = total
    }
}
