import Logging
import PostgresNIO
import Synchronization
import TollgateCore

/// One durable commit for many concurrent writes of this instance: while one transaction commits, new writes
/// wait in a queue; then they run together in the next transaction, each in its own savepoint, under one
/// acquisition of the cluster-wide write lock and one commit (one WAL flush). A caller is answered only once
/// the transaction holding its write has committed, so a reservation is durable before its request is
/// forwarded and a settlement before its answer is released. The SQLite store's `GroupCommitter` does the same
/// on one file; here it also shortens how long each instance holds the write lock per write.
///
/// One write failing rolls back its own savepoint only; a failed commit (or a lost connection) fails every write
/// of the batch, none of which is then committed. A batch that has not committed after `timeout` fails with
/// `storeUnavailable`, and so does every write still queued behind it: while the database is away writes fail
/// fast (the journey answers 503) instead of queueing one timeout after another.
final class PostgresGroupCommitter: Sendable {
    typealias Body = @Sendable (PostgresTransaction) async throws -> Void

    private struct Job: Sendable {
        /// Runs the write in the batch's transaction, keeping its own outcome; false when it failed (rolled back).
        let run: @Sendable (PostgresTransaction) async -> Bool
        /// Answers the caller with its write's outcome, or with the commit's error.
        let finish: @Sendable ((any Error)?) -> Void
    }

    private let client: PostgresClient
    private let logger: Logger
    private let lockKey: Int64
    private let timeout: Duration
    /// Set once the queue exists (it calls back into this committer).
    private let queue = Mutex<BatchQueue<Job>?>(nil)

    init(client: PostgresClient, logger: Logger, lockKey: Int64, timeout: Duration, maxBatch: Int = 64) {
        self.client = client
        self.logger = logger
        self.lockKey = lockKey
        self.timeout = timeout
        let queue = BatchQueue<Job>(maxBatch: maxBatch) { [unowned self] batch in await self.commitOrFail(batch) }
        self.queue.withLock { $0 = queue }
    }

    /// Transactions committed and the writes they held, since the store was opened (benchmarks).
    var committed: (transactions: Int, writes: Int) {
        let succeeded = queue.withLock { $0?.succeeded } ?? (batches: 0, jobs: 0)
        return (succeeded.batches, succeeded.jobs)
    }

    func write<Value: Sendable>(_ body: @escaping @Sendable (PostgresTransaction) async throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
            let outcome = Mutex<Result<Value, any Error>?>(nil)
            let job = Job(
                run: { transaction in
                    do {
                        try await transaction.execute("SAVEPOINT tollgate_write")
                        let value = try await body(transaction)
                        try await transaction.execute("RELEASE SAVEPOINT tollgate_write")
                        outcome.withLock { $0 = .success(value) }
                        return true
                    } catch {
                        outcome.withLock { $0 = .failure(error) }
                        // The transaction goes on without this write; if even the rollback fails, the commit will too.
                        try? await transaction.execute("ROLLBACK TO SAVEPOINT tollgate_write")
                        return false
                    }
                },
                finish: { commitError in
                    if let commitError { return continuation.resume(throwing: commitError) }
                    continuation.resume(with: outcome.withLock { $0 } ?? .failure(CancellationError()))
                })
            queue.withLock { $0 }?.enqueue(job)
        }
    }

    /// Commits one batch within the timeout; on failure every write of the batch, and every write queued behind it,
    /// fails with the batch's error.
    private func commitOrFail(_ batch: [Job]) async -> Bool {
        let abandoned = Latch()
        do {
            try await PostgresStores.withTimeout(timeout, "PostgreSQL did not commit") { try await self.commit(batch, unless: abandoned) }
            for job in batch { job.finish(nil) }
            return true
        } catch {
            _ = abandoned.trip()
            let queued = queue.withLock { $0 }?.takeAll() ?? []
            for job in batch + queued { job.finish(error) }
            return false
        }
    }

    /// Runs the batch in one transaction and commits it, unless its callers were answered meanwhile (`abandoned`: the
    /// batch timed out while it waited for a connection or the lock); then nothing is written.
    private func commit(_ batch: [Job], unless abandoned: Latch) async throws {
        try await client.withConnection { connection in
            let transaction = PostgresTransaction(connection: connection, logger: logger)
            try await transaction.execute("BEGIN")
            do {
                try await transaction.execute("SELECT pg_advisory_xact_lock(\(lockKey))")
                guard !abandoned.isTripped else { throw CancellationError() }
                for job in batch { _ = await job.run(transaction) }
                guard !abandoned.isTripped else { throw CancellationError() }
                try await transaction.execute("COMMIT")
            } catch {
                try? await transaction.execute("ROLLBACK")
                throw error
            }
        }
    }
}
