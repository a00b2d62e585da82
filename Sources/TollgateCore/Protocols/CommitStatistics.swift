/// What a store's group commit has done since the store was opened: the transactions it committed, the writes they
/// held, how long its writer was busy and how long writes waited for their turn. Their rates answer the questions of a
/// loaded gateway: how many writes share a commit (`writes / commits`), how busy the writer is (`busySeconds` per
/// second: near 1, writes queue behind it), and how long a write waits before its transaction starts
/// (`waitSeconds / started`).
public struct CommitStatistics: Sendable, Hashable, Codable {
    /// Transactions committed.
    public var commits: Int
    /// Writes those transactions held (a write that failed inside its own savepoint included).
    public var writes: Int
    /// Batches whose transaction did not commit: the commit failed, or the batch's only write failed and was rolled back.
    public var failedBatches: Int
    /// Time spent running batches, committed or not, from taking a batch to its end (SQLite: the writer thread's time in
    /// its transactions; PostgreSQL: waiting for a connection and the cluster-wide write lock included).
    public var busySeconds: Double
    /// Writes taken from the queue into a batch, and the time they had waited there since they arrived. Writes failed
    /// from the queue without starting (on PostgreSQL, those behind a batch that failed or timed out) are not counted.
    public var started: Int
    public var waitSeconds: Double

    public init(commits: Int = 0, writes: Int = 0, failedBatches: Int = 0, busySeconds: Double = 0, started: Int = 0, waitSeconds: Double = 0) {
        self.commits = commits
        self.writes = writes
        self.failedBatches = failedBatches
        self.busySeconds = busySeconds
        self.started = started
        self.waitSeconds = waitSeconds
    }
}
