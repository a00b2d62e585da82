/// Durable operator controls: revocations and incident switches, written by the admin API and read
/// by every instance (through `ControlsRefresher`). SQLite and PostgreSQL implement it.
///
/// Every mutation appends an `admin` audit event in the same transaction as the change it records.
/// Lifting a revocation or ending an incident keeps the audit history (and the row, marked ended).
public protocol ControlStore: Sendable {
    /// The revocations and incidents in force now.
    func loadControls() async throws -> ControlsSnapshot

    /// Revokes a client id or a payer address (stored lowercase). Revoking again replaces the reason.
    func revoke(kind: RevocationKind, subject: String, reason: String, actor: String) async throws

    /// Lifts a revocation. Returns false when none was in force.
    @discardableResult
    func unrevoke(kind: RevocationKind, subject: String, actor: String) async throws -> Bool

    /// Turns an incident switch on for one route resource id, or for every paid route when `scope` is nil.
    /// When one is already on for that scope it is returned unchanged.
    func startIncident(scope: String?, reason: String, actor: String) async throws -> Incident

    /// Turns the switch of `scope` (nil: the global one) off. Returns the ended incident, nil when none was on.
    func endIncident(scope: String?, actor: String) async throws -> Incident?

    /// What the payments ledger holds for a client id and/or a payer address (nil: any), per asset.
    func spend(client: String?, payer: String?) async throws -> SpendSummary

    /// Amounts held or committed against spend caps and quotas for `subject` (`client:ID`,
    /// `organisation:NAME`, `payer:ADDRESS`), by bucket.
    func spendTotals(subject: String) async throws -> [String: String]

    /// Calls `onChange` each time revocations or incidents change, through any instance, until the task is cancelled
    /// (a shared store pushes changes: PostgreSQL `LISTEN`). A store with nothing to push returns at once, and polling
    /// alone applies changes (`ControlsRefresher`).
    func followControlChanges(_ onChange: @escaping @Sendable () async -> Void) async
}

/// What a revocation applies to.
public enum RevocationKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// An API client id: its requests are refused before any price.
    case client
    /// A payer address: its proofs are refused before anything is reserved or settled.
    case payer

    /// The subject as stored and compared: payer addresses are case-insensitive.
    public func normalized(_ subject: String) -> String {
        self == .payer ? subject.lowercased() : subject
    }
}

extension ControlStore {
    public func spendTotals(subject: String) async throws -> [String: String] { [:] }

    public func followControlChanges(_ onChange: @escaping @Sendable () async -> Void) async {}
}
