/// Whether the store has been answering: shown by the admin API's `/admin/status` and the metrics, so an operator
/// sees a database outage (and its 503s) as such.
public struct StoreHealth: Sendable, Hashable, Codable {
    /// `sqlite`, `postgres` or `memory`.
    public var backend: String
    /// False after an operation failed because the database could not be reached (or refused writes), until one succeeds.
    public var reachable: Bool
    /// When `reachable` last changed (Unix milliseconds); nil when it never has.
    public var sinceMillis: Int64?
    /// What the last failure said (never a secret: connection errors name the host, not the password).
    public var lastError: String?
    /// Operations that failed on an unreachable database since the process started.
    public var failures: Int
    /// What the store's group commit did since it was opened; nil for a store without one.
    public var commits: CommitStatistics?

    public init(backend: String, reachable: Bool = true, sinceMillis: Int64? = nil, lastError: String? = nil, failures: Int = 0,
                commits: CommitStatistics? = nil) {
        self.backend = backend
        self.reachable = reachable
        self.sinceMillis = sinceMillis
        self.lastError = lastError
        self.failures = failures
        self.commits = commits
    }
}

/// Jobs that must run on one instance at a time across every instance sharing a store (the settlement reconciler).
public protocol ExclusiveJobs: Sendable {
    /// Runs `body` unless another instance is running the job `name` now; nil when it is (nothing ran here).
    func exclusively<Value: Sendable>(_ name: String, _ body: @Sendable () async throws -> Value) async throws -> Value?
}

/// One process is the only instance: every job runs (SQLite, the in-memory store, tests).
public struct LocalJobs: ExclusiveJobs {
    public init() {}

    public func exclusively<Value: Sendable>(_ name: String, _ body: @Sendable () async throws -> Value) async throws -> Value? {
        try await body()
    }
}
