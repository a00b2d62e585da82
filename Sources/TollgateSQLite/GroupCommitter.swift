import GRDB
import TollgateCore
import Synchronization

/// Durable writes without a sync per write: concurrent writes wait in a queue while one transaction commits,
/// then run together, each in its own savepoint, in the next transaction, with one sync for all of them
/// (`PRAGMA synchronous = FULL`: a WAL commit is synced before it returns). Each caller is answered only once
/// the transaction holding its write is durable, so a reservation is on disk before its request is
/// forwarded and a settlement before its answer is released, even on power loss.
///
/// One write failing rolls back its own savepoint only; a failed commit fails every write of the batch.
final class GroupCommitter: Sendable {
    private struct Job: Sendable {
        /// Runs the write inside the batch's transaction and keeps its outcome.
        let run: @Sendable (Database) -> Void
        /// Answers the caller: with the write's own outcome, or with the commit's error.
        let finish: @Sendable ((any Error)?) -> Void
    }

    /// At most `maxBatch` writes in one transaction, so one huge batch cannot hold the others for long.
    private let queue: BatchQueue<Job>

    /// Transactions committed and writes they held, since the store was opened (tests, benchmarks).
    var committed: (transactions: Int, writes: Int) {
        let succeeded = queue.succeeded
        return (succeeded.batches, succeeded.jobs)
    }

    init(writer: DatabasePool, maxBatch: Int = 256) {
        queue = BatchQueue(maxBatch: maxBatch) { batch in await Self.commit(batch, writer: writer) }
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let outcome = Mutex<Result<T, any Error>?>(nil)
            let job = Job(
                run: { db in
                    do {
                        var value: T?
                        try db.inCachedSavepoint { value = try body(db) }
                        outcome.withLock { $0 = value.map { .success($0) } }
                    } catch {
                        outcome.withLock { $0 = .failure(error) }
                    }
                },
                finish: { commitError in
                    if let commitError { return continuation.resume(throwing: commitError) }
                    continuation.resume(with: outcome.withLock { $0 } ?? .failure(CancellationError()))
                })
            queue.enqueue(job)
        }
    }

    /// Commits one batch: every write in its savepoint, one commit for all; false when the commit failed.
    private static func commit(_ batch: [Job], writer: DatabasePool) async -> Bool {
        do {
            try await writer.write { db in
                for job in batch { job.run(db) }
            }
            for job in batch { job.finish(nil) }
            return true
        } catch {
            for job in batch { job.finish(error) }
            return false
        }
    }
}
