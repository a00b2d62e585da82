import Logging
import PostgresNIO
import Synchronization
import TollgateCore

/// One durable commit for many concurrent writes of this instance: while one transaction commits, new writes
/// wait in a queue; then they run together in the next transaction, under one acquisition of the cluster-wide write
/// lock and one commit (one WAL flush). A caller is answered only once the transaction holding its write has
/// committed, so a reservation is durable before its request is forwarded and a settlement before its answer is
/// released. The SQLite store's `GroupCommitter` does the same on one file; here it also shortens how long each
/// instance holds the write lock per write.
///
/// Writes run back to back without savepoints (each statement is a round trip that every instance's writes wait
/// behind while the lock is held, and two of them per write were a third of all statements). Writes rarely fail, so
/// that is the common case; when one does, the transaction is rolled back, that write is answered with its error, and
/// the others run again in a new transaction, each in its own savepoint: one failure costs one more transaction,
/// never one per write. A failed commit (or a lost connection) fails every write of the batch, none of which is then
/// committed. A batch that has not committed after `timeout` fails with `storeUnavailable`, and so does every write
/// still queued behind it: while the database is away writes fail fast (the journey answers 503) instead of
/// queueing one timeout after another.
final class PostgresGroupCommitter: Sendable {
    typealias Body = @Sendable (PostgresTransaction) async throws -> Void

    private struct Job: Sendable {
        /// Runs the write in the batch's transaction, keeping its outcome; the error when it failed. With `flushing`,
        /// its audit events are inserted before it counts as done (so its savepoint holds them).
        let run: @Sendable (PostgresTransaction, _ flushing: Bool) async -> (any Error)?
        /// Answers the caller with its write's outcome, or with the commit's error.
        let finish: @Sendable ((any Error)?) -> Void
    }

    private let client: PostgresClient
    private let logger: Logger
    private let lockKey: Int64
    private let timeout: Duration
    private let queue: BatchQueue<Job>

    init(client: PostgresClient, logger: Logger, lockKey: Int64, timeout: Duration, maxBatch: Int = 64) {
        self.client = client
        self.logger = logger
        self.lockKey = lockKey
        self.timeout = timeout
        queue = BatchQueue(maxBatch: maxBatch)
    }

    /// What the group commit did since the store was opened (`StoreHealth.commits`, tests).
    var statistics: CommitStatistics { queue.statistics }

    func write<Value: Sendable>(_ body: @escaping @Sendable (PostgresTransaction) async throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
            let outcome = Mutex<Result<Value, any Error>?>(nil)
            let job = Job(
                run: { transaction, flushing in
                    do {
                        let value = try await body(transaction)
                        if flushing { try await PostgresStore.flushAudit(transaction) }
                        outcome.withLock { $0 = .success(value) }
                        return nil
                    } catch {
                        outcome.withLock { $0 = .failure(error) }
                        return error
                    }
                },
                finish: { commitError in
                    if let commitError { return continuation.resume(throwing: commitError) }
                    continuation.resume(with: outcome.withLock { $0 } ?? .failure(CancellationError()))
                })
            if queue.add(job) { Task { await self.drain() } }
        }
    }

    /// Commits batch after batch until nothing waits (started by the first write of an idle queue).
    private func drain() async {
        while let batch = queue.nextBatch() { await commitOrFail(batch) }
    }

    /// Commits one batch within the timeout; on failure every write of the batch, and every write queued behind it,
    /// fails with the batch's error. The batch is counted (`statistics`) before its callers are answered; the writes
    /// failed from the queue behind it never started and are not counted.
    private func commitOrFail(_ batch: [Job]) async {
        let abandoned = Latch()
        do {
            let written = try await PostgresStores.withTimeout(timeout, "PostgreSQL did not commit") {
                try await self.commit(batch, unless: abandoned)
            }
            queue.finished(written, succeeded: written > 0)
            for job in batch { job.finish(nil) }
        } catch {
            _ = abandoned.trip()
            queue.finished(batch.count, succeeded: false)
            let queued = queue.takeAll()
            for job in batch + queued { job.finish(error) }
        }
    }

    /// Runs the batch in one transaction and commits it, unless its callers were answered meanwhile (`abandoned`: the
    /// batch timed out while it waited for a connection or the lock); then nothing is written. A write that fails
    /// sends the others to a second transaction with a savepoint each; the failed one is answered with its own error.
    /// Returns how many writes the committed transaction held (0: none committed, the batch's only write failed).
    private func commit(_ batch: [Job], unless abandoned: Latch) async throws -> Int {
        var pending = batch
        var isolated = false
        while !pending.isEmpty {
            let failed = try await transaction(pending, isolated: isolated, unless: abandoned)
            guard let failed else { return pending.count }
            pending.remove(at: failed)
            isolated = true
        }
        return 0
    }

    /// One transaction over `batch`; the index of the write that failed (then nothing was committed) when writes are
    /// not `isolated`, nil when the transaction committed.
    private func transaction(_ batch: [Job], isolated: Bool, unless abandoned: Latch) async throws -> Int? {
        try await PostgresTransaction.leased(from: client, logger: logger, audit: PendingAudit()) { transaction in
            // Read committed whatever the server's default: each statement after the write lock must see what the lock's
            // last holder committed. Under repeatable read the snapshot is taken by the lock's own statement, before the
            // wait, so every check of the batch would read the world as it was before that holder's writes; only the audit
            // chain's unique seq (a stale head collides) turned that into a conflict and a retry of the batch.
            try await transaction.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
            do {
                _ = try await transaction.run(WriteLockStatement(key: lockKey))
                guard !abandoned.isTripped else { throw CancellationError() }
                for (index, job) in batch.enumerated() {
                    if isolated {
                        try await transaction.execute("SAVEPOINT tollgate_write")
                        if await job.run(transaction, true) == nil {
                            try await transaction.execute("RELEASE SAVEPOINT tollgate_write")
                        } else {
                            // The transaction goes on without this write (and its events); if even the rollback fails,
                            // the commit will too.
                            try await transaction.execute("ROLLBACK TO SAVEPOINT tollgate_write")
                            transaction.audit?.discard()
                            transaction.audit?.forget()
                        }
                    } else if await job.run(transaction, false) != nil {
                        try await transaction.execute("ROLLBACK")
                        // Without it, the others run again isolated (a batch of one has nothing left to run: its write
                        // is simply answered with its error).
                        return index
                    }
                }
                try await PostgresStore.flushAudit(transaction)
                guard !abandoned.isTripped else { throw CancellationError() }
                try await transaction.execute("COMMIT")
                return nil
            } catch {
                try? await transaction.execute("ROLLBACK")
                throw error
            }
        }
    }
}
