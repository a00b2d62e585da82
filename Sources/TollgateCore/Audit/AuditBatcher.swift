import Logging
import ServiceLifecycle
import Synchronization

/// Group-commits unpaid-path audit events: they are buffered and written at most `interval` later,
/// so issuing a 402 writes nothing synchronously. Paid-path events never go through here.
///
/// Recording takes a lock, not an actor hop: a 402 leaves its event without leaving its event loop (an actor made every
/// unpaid request hop to the actor's executor and back). Memory stays bounded whatever the store does:
/// - while the store takes writes, `record` waits for a flush once `capacity` events are waiting, so a flood slows down
///   rather than growing the buffer;
/// - a batch the store refuses is kept for the next flush (nothing is lost in a short outage), and until a flush
///   succeeds again recording no longer tries to write: the periodic flush retries;
/// - while the last write failed, past `backlogLimit` events (waiting or being written) `record` refuses the events and
///   returns false. The gateway
///   then answers an unpaid request 503 `store_unavailable` rather than issue terms it cannot audit, and the refusals
///   are reported to the observer (`tollgate_audit_events_refused_total`).
public final class AuditBatcher: Service, Sendable {
    private let store: any TollgateStore
    private let interval: Duration
    private let capacity: Int
    /// The most events held in memory, counting a batch being written.
    public let backlogLimit: Int
    private let observer: (any AuditObserver)?
    private let logger: Logger
    private let backlog: Mutex<Backlog>

    private struct Backlog {
        var waiting: [AuditEvent]
        /// Events taken by a flush that has not returned yet (put back if the store refuses them).
        var writing = 0
        /// Whether the last write failed: recording past `capacity` then waits for the periodic retry instead of
        /// asking a failing store again on every request.
        var failing = false
        /// Events refused since the last report to the observer.
        var refused = 0
    }

    private enum Admission { case buffered, full, refused }

    /// - Parameters:
    ///   - interval: how long an event may wait before it is written.
    ///   - capacity: how many waiting events make `record` write them before it returns.
    ///   - backlogLimit: how many events may be held while the store refuses writes (default four times `capacity`).
    ///   - observer: told after each flush how many events wait and how many were refused since.
    public init(store: any TollgateStore, interval: Duration = .milliseconds(200), capacity: Int = 8192, backlogLimit: Int? = nil,
                observer: (any AuditObserver)? = nil, logger: Logger) {
        self.store = store
        self.interval = interval
        self.capacity = max(1, capacity)
        self.backlogLimit = max(self.capacity, backlogLimit ?? 4 * self.capacity)
        self.observer = observer
        self.logger = logger
        var empty: [AuditEvent] = []
        empty.reserveCapacity(256)
        backlog = Mutex(Backlog(waiting: empty))
    }

    /// Buffers `events`; false when they were refused because the store refused the last write and `backlogLimit` events
    /// are already held. All of `events` are buffered, or none.
    @discardableResult
    public func record(_ events: AuditEvent...) async -> Bool {
        let admission = backlog.withLock { backlog -> Admission in
            // Only a failing store can fill the backlog: otherwise every record past `capacity` waits for a flush.
            guard !backlog.failing || backlog.waiting.count + backlog.writing + events.count <= backlogLimit else {
                backlog.refused += events.count
                return .refused
            }
            backlog.waiting.append(contentsOf: events)
            return backlog.waiting.count >= capacity && !backlog.failing ? .full : .buffered
        }
        switch admission {
        case .buffered: return true
        case .full:
            await flush()
            return true
        case .refused: return false
        }
    }

    /// Writes everything buffered now.
    public func flush() async {
        let batch = backlog.withLock { backlog in
            var taken: [AuditEvent] = []
            taken.reserveCapacity(256)
            swap(&taken, &backlog.waiting)
            backlog.writing += taken.count
            return taken
        }
        if !batch.isEmpty {
            do {
                try await store.append(batch)
                backlog.withLock {
                    $0.writing -= batch.count
                    $0.failing = false
                }
            } catch {
                // Put the batch back so nothing is lost while the store is down; the next flush retries.
                logger.error("audit batch not written", metadata: ["tollgate.events": "\(batch.count)", "tollgate.error": "\(error)"])
                backlog.withLock {
                    $0.waiting.insert(contentsOf: batch, at: 0)
                    $0.writing -= batch.count
                    $0.failing = true
                }
            }
        }
        let (waiting, refused) = backlog.withLock { backlog in
            defer { backlog.refused = 0 }
            return (backlog.waiting.count + backlog.writing, backlog.refused)
        }
        if refused > 0 {
            logger.error("audit events refused: the store refuses writes and the backlog is full",
                         metadata: ["tollgate.events": "\(refused)", "tollgate.backlog": "\(waiting)"])
        }
        observer?.auditBacklog(waiting: waiting, refused: refused)
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: self.interval)
                // Written outside this task, so a shutdown arriving mid-write never cancels the write.
                await Task { await self.flush() }.value
            }
        }
        // The last batch is written outside the cancelled task, so shutting down never drops events.
        await Task { await self.flush() }.value
    }
}
