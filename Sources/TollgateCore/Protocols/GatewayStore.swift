/// The one store the gateway, the admin API and the CLI open: every ability in one value, so nothing has to
/// name a concrete store or ask a store what it can do (`as?`). SQLite implements it (`SQLiteStores.open`),
/// `PostgresStores.open` on PostgreSQL; the `TollgateStoreConformance` suite checks every implementation against the same rules.
///
/// - `TollgateStore`: the pipeline's writes (reservations, settlement, stored responses, spend holds, package
///   units, audit appends), with `RefundLedger` and `SettlementLedger`;
/// - `ControlStore`: revocations, incidents, the payments ledger summed per asset, spend totals;
/// - `SupportStore`: finding flows, disputes, evidence material;
/// - `UsageLedger`: usage reports and package balances;
/// - `AuditLogStore` (with `AuditHeadReading` and `AuditRetaining`): paging, verifying, exporting and archiving
///   the audit log;
/// - `ExclusiveJobs`: jobs one instance at a time runs (the reconciler);
/// - the ledger reads below, and `health()`.
///
/// What is allowed (a refund's amount, whether a hold fits its cap, a balance after a hold) is decided in
/// Core (`RefundPolicy`, `SpendHolds`, `PackageUnits`); a store reads the current values, asks Core and applies
/// the answer in one transaction that no other write interleaves with (docs/architecture.md, "The store seam").
public protocol GatewayStore: TollgateStore, ControlStore, SupportStore, UsageLedger, AuditLogStore, ExclusiveJobs {
    /// Payments recorded for one flow, oldest first.
    func payments(correlationId: String) async throws -> [PaymentRecord]

    /// Spend held or committed in one bucket of one subject ("0" when nothing was held).
    func spendTotal(subject: String, bucket: String) async throws -> TokenAmount

    /// Whether the database has been answering (never throws: it reports what the last operations saw).
    func health() -> StoreHealth

    /// Where instances sharing this store count invalid proofs together (`limits.shared_invalid`); nil for a store
    /// that only one instance uses.
    var invalidProofCounter: (any InvalidProofCounter)? { get }
}
