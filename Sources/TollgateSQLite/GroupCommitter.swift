import GRDB
import NIOCore
import NIOPosix
import Synchronization
import TollgateCore

/// Durable writes without a sync per write: concurrent writes wait in a queue while one transaction commits,
/// then run together in the next transaction, with one sync for all of them
/// (`PRAGMA synchronous = FULL`: a WAL commit is synced before it returns). Each caller is answered only once
/// the transaction holding its write is durable, so a settlement intent is on disk before `/settle` is called and
/// a settlement before its answer is released, even on power loss. A write that asks for no sync (the reservation and the
/// spend hold, made durable by their flow's synced settlement intent before any money moves) lets a batch made only of
/// such writes commit without one.
///
/// A batch first runs its writes one after the other with no savepoint: a savepoint costs two statements and a copy of
/// every page its write changes that an earlier write of the batch had changed (its sub-journal), about a tenth of the
/// writer's time under load. When a write fails, that transaction is rolled back and the batch runs again, each write in
/// its own savepoint, so one write failing rolls back its own savepoint only (a write alone in its batch: the
/// transaction). A write therefore runs once or twice and must depend on nothing but the database (every store write
/// captures values only). A failed commit fails every write of the batch, and so does a write after which SQLite ended
/// the whole transaction itself (a full disk): the writes after it run nothing (`Database.inCachedSavepoint`), none of
/// the batch commits.
package final class GroupCommitter: Sendable {
    private struct Job: Sendable {
        /// Runs the write inside the batch's transaction and keeps its outcome (a second run replaces the first's); false
        /// when it failed. `savepoint`: whether it runs in a savepoint of its own, so that its failure rolls back its
        /// writes only; without, a failure leaves the transaction to be rolled back whole.
        let run: @Sendable (Database, _ savepoint: Bool) -> Bool
        /// Answers the caller: with the write's own outcome, or with the commit's error.
        let finish: @Sendable ((any Error)?) -> Void
        /// Whether the caller needs the write synced before it is answered (`write(synced:)`).
        let synced: Bool
    }

    /// Whether the writer connection syncs its commits now (`synchronous = FULL`); nil when unknown. The store opens it in
    /// FULL when durable.
    private final class WriterMode: Sendable {
        let synced = Mutex<Bool?>(true)
    }

    /// At most `maxBatch` writes in one transaction, so one huge batch cannot hold the others for long.
    private let queue: BatchQueue<Job>
    private let writer: DatabasePool
    private let durable: Bool
    private let mode = WriterMode()
    /// Where a write's caller is answered (`callersLoop`).
    private let answeringLoop: @Sendable () -> (any EventLoop)?

    /// What the group commit did since the store was opened (`StoreHealth.commits`, tests). A write that failed in its
    /// savepoint is held by a committed transaction all the same; one that failed alone has none.
    var statistics: CommitStatistics { queue.statistics }

    /// Writes waiting for the next batch now.
    var waiting: Int { queue.waiting }

    /// - Parameter durable: whether the writer connection syncs its commits (`PRAGMA synchronous = FULL`); only then
    ///   does a batch of writes that need no sync commit without one.
    /// - Parameter answeringLoop: the loop a caller is answered on, asked at each `write` (tests choose one).
    package init(writer: DatabasePool, durable: Bool = true, maxBatch: Int = 256,
                 answeringLoop: @escaping @Sendable () -> (any EventLoop)? = { GroupCommitter.callersLoop }) {
        queue = BatchQueue(maxBatch: maxBatch)
        self.writer = writer
        self.durable = durable
        self.answeringLoop = answeringLoop
    }

    /// Runs `body` in the next batch's transaction. `synced: false` is for a write that a later synced commit makes
    /// durable before anything depends on it surviving power loss: a batch of only such writes commits without a sync
    /// (it still survives a crash of the process: the WAL frames are written before the commit returns). `body` runs once,
    /// or twice when another write of its batch failed: it must depend on nothing but the database it is given.
    package func write<T: Sendable>(synced: Bool = true, _ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        let callerLoop = answeringLoop()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let outcome = Mutex<Result<T, any Error>?>(nil)
            let job = Job(
                run: { db, savepoint in
                    do {
                        var value: T?
                        if savepoint { try db.inCachedSavepoint { value = try body(db) } } else { value = try body(db) }
                        outcome.withLock { $0 = value.map { .success($0) } }
                        return true
                    } catch {
                        outcome.withLock { $0 = .failure(error) }
                        return false
                    }
                },
                finish: { commitError in
                    let result = commitError.map { .failure($0) } ?? outcome.withLock { $0 } ?? .failure(CancellationError())
                    guard let callerLoop else { return continuation.resume(with: result) }
                    callerLoop.execute { continuation.resume(with: result) }
                },
                synced: synced)
            if queue.add(job) { writer.asyncWriteWithoutTransaction { db in self.drain(db) } }
        }
    }

    /// The loop a write's caller runs on, where its answer is given: one of NIO's shared loops (the server commands run
    /// every task on them), nil elsewhere. Resumed from the writer's thread, a task goes to any loop (NIO's executor takes
    /// turns), often not the one holding its client's and its peers' connections, and every later step then switches
    /// thread. Only the shared group's loops, which are never shut down: a task given to a stopped loop is dropped.
    static var callersLoop: (any EventLoop)? {
        // Off every loop (a command such as `tollgate audit`), the shared group is not even started.
        guard MultiThreadedEventLoopGroup.currentEventLoop != nil else { return nil }
        let shared = MultiThreadedEventLoopGroup.singleton.any()
        return shared.inEventLoop ? shared : nil
    }

    /// Commits batch after batch on the writer's thread until nothing waits. Each caller is answered from here: its
    /// task resumes on its own event loop (`write`), with no trip through another task first.
    private func drain(_ db: Database) {
        while var batch = queue.nextBatch() { commit(&batch, db) }
    }

    /// Commits one batch: its writes one after the other (once more, each in its savepoint, when one failed), one commit
    /// for all. The batch is counted (`statistics`) before its callers are answered, so a caller reads statistics that
    /// include its own write: committed, or not (the commit failed, or the batch's only write did and its transaction
    /// was rolled back).
    private func commit(_ batch: inout [Job], _ db: Database) {
        let synced = !durable || batch.contains { $0.synced }
        var committed = true
        do {
            // Each batch sets the mode it needs when the writer is not in it already (SQLite refuses to change it
            // inside a transaction). Every write after start-up goes through here, so the mode is always known; when
            // setting it fails, it is unknown, and the next batch sets it again.
            if durable, mode.synced.withLock({ $0 }) != synced {
                mode.synced.withLock { $0 = nil }
                try db.run(sql: synced ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL")
                mode.synced.withLock { $0 = synced }
            }
            // Every write without a savepoint first: when one fails, the transaction is rolled back whole (a write alone
            // in its batch, every write when they come one at a time, is then answered with its failure). No write runs
            // once SQLite has ended the transaction (a write that caught SQLite's error and went on): its statements
            // would commit one by one.
            var failed = false
            try db.inCachedTransaction {
                failed = !batch.allSatisfy { job in db.isInsideTransaction && job.run(db, false) }
                // Set here: a write alone is answered with its own failure even when rolling back fails too.
                if failed, batch.count == 1 { committed = false }
                return failed ? .rollback : .commit
            }
            if failed, batch.count > 1 {
                // Again, each write in its savepoint: the failed one (and any other that fails this time) rolls back
                // alone. A batch costs at most two runs, whoever sends failing writes.
                try db.inCachedTransaction {
                    for job in batch { _ = job.run(db, true) }
                    return .commit
                }
            }
            queue.finished(batch.count, succeeded: committed)
            Self.answer(&batch, nil)
        } catch {
            queue.finished(batch.count, succeeded: false)
            // A write alone that failed is answered with its own error, even when rolling its transaction back failed.
            let ownError = batch.count == 1 && !committed
            Self.answer(&batch, ownError ? nil : error)
        }
    }

    /// Answers a batch's callers once their writes are let go: whatever a write's body captured (its store, a ledger and
    /// the lock it holds) is released before its caller goes on, not when the writer's thread gets to it.
    private static func answer(_ batch: inout [Job], _ commitError: (any Error)?) {
        let finishes = batch.map(\.finish)
        batch.removeAll()
        for finish in finishes { finish(commitError) }
    }
}
