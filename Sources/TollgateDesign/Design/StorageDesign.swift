/// Where state lives and how long it is kept.
public struct StorageDesign: Sendable, Hashable, Codable {
    /// The SQLite database: reservations, ledger, refunds, balances, spend holds, hash-chained audit log.
    public var sqlitePath: String
    /// The longest an unpaid-path audit event waits before its batch is committed.
    public var auditFlushMillis: Int
    /// nil: every audit event is kept forever.
    public var auditRetention: RetentionDesign?
    /// `all`: every refusal is audited; `none`: refusals off the paid path (401, 403, 404, 429…) are not.
    public var auditDenials: String
    public var refunds: RefundsDesign
    /// How long a delivered paid response is kept for the same client's retry.
    public var idempotencyWindowSeconds: Int
    /// nil: no admin listener runs.
    public var admin: AdminDesign?
}
