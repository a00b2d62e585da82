import GRDB
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

    private struct State {
        var pending: [Job] = []
        var draining = false
    }

    private let writer: DatabasePool
    private let state = Mutex(State())
    private let counts = Mutex((transactions: 0, writes: 0))

    /// Transactions committed and writes they held, since the store was opened (tests, benchmarks).
    var committed: (transactions: Int, writes: Int) { counts.withLock { $0 } }
    /// Writes in one transaction at most, so one huge batch cannot hold the others for long.
    private let maxBatch: Int

    init(writer: DatabasePool, maxBatch: Int = 256) {
        self.writer = writer
        self.maxBatch = maxBatch
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let outcome = Mutex<Result<T, any Error>?>(nil)
            let job = Job(
                run: { db in
                    do {
                        var value: T?
                        try db.inSavepoint {
                            value = try body(db)
                            return .commit
                        }
                        outcome.withLock { $0 = value.map { .success($0) } }
                    } catch {
                        outcome.withLock { $0 = .failure(error) }
                    }
                },
                finish: { commitError in
                    if let commitError { return continuation.resume(throwing: commitError) }
                    continuation.resume(with: outcome.withLock { $0 } ?? .failure(CancellationError()))
                })
            let startDrain = state.withLock { state -> Bool in
                state.pending.append(job)
                guard !state.draining else { return false }
                state.draining = true
                return true
            }
            if startDrain { Task { await self.drain() } }
        }
    }

    /// Commits batches until the queue is empty.
    private func drain() async {
        while true {
            let batch = state.withLock { state -> [Job] in
                let batch = Array(state.pending.prefix(maxBatch))
                state.pending.removeFirst(batch.count)
                if batch.isEmpty { state.draining = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            do {
                try await writer.write { db in
                    for job in batch { job.run(db) }
                }
                counts.withLock {
                    $0.transactions += 1
                    $0.writes += batch.count
                }
                for job in batch { job.finish(nil) }
            } catch {
                for job in batch { job.finish(error) }
            }
        }
    }
}
